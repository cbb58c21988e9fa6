"""Real local servers the tests (and benchmarks) start: Kafka broker, Schema Registry, HTTP servers."""
