"""OpenLineage dataset -> DataHub dataset URN.

Expectations come from DataHub itself, cited per case:
  [EVT]    metadata-integration/java/acryl-spark-lineage/src/test/java/datahub/spark/
           OpenLineageEventToDatahubTest.java (and the ol_events/*.json it loads)
  [HDFS]   metadata-integration/java/openlineage-converter/src/test/java/io/datahubproject/
           openlineage/HdfsPathDatasetTest.java
  [IDENT]  .../openlineage-converter/src/test/java/.../OpenLineageDatasetIdentityTest.java
  [GOLDEN] .../openlineage-converter/src/test/resources/compatibility-golden/<scenario>/<file>.json
           (DataHub's expected MCPs for the very corpus in tests/corpus/openlineage)
  [RESOLVER] OpenLineagePlatformResolver.java (rule read from the code, no DataHub test)
  [SPEC]   https://openlineage.io/docs/spec/naming (namespace forms)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import ConfigError
from bridge.model import Symlink
from translators.datahub.platform_config import (
    DatasetRef,
    NamespaceOverride,
    PathSpec,
    PlatformConfig,
    dataset_urn,
)
from translators.datahub.platforms import resolve_dataset, resolve_dataset_urn

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
DEFAULT = PlatformConfig()


def ds(platform: str, name: str, env: str = "PROD") -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:{platform},{name},{env})"


def table(namespace: str, name: str) -> tuple[Symlink, ...]:
    return (Symlink(namespace=namespace, name=name, type="TABLE"),)


CASES = [
    # [EVT] testOpenlineageTableDataset (DataHub's port of the OpenLineage naming table)
    ("postgres://db.foo.com:6543", "metrics.sales.orders", (), ds("postgres", "metrics.sales.orders")),
    ("mysql://db.foo.com:6543", "metrics.orders", (), ds("mysql", "metrics.orders")),
    ("s3://sales-metrics", "orders.csv", (), ds("s3", "sales-metrics/orders.csv")),
    ("gcs://sales-metrics", "orders.csv", (), ds("gcs", "sales-metrics/orders.csv")),
    ("hdfs://stg.foo.com:3000", "salesorders.csv", (), ds("hdfs", "salesorders.csv")),
    ("bigquery", "metrics.sales.orders", (), ds("bigquery", "metrics.sales.orders")),
    (
        "redshift://examplecluster.XXXXXXXXXXXX.us-west-2.redshift.amazonaws.com:5439",
        "metrics.sales.orders",
        (),
        ds("redshift", "metrics.sales.orders"),
    ),
    (
        "awsathena://athena.us-west-2.amazonaws.com",
        "metrics.sales.orders",
        (),
        ds("athena", "metrics.sales.orders"),
    ),
    (
        "sqlserver://XXXXXXXXXXXX.sql.azuresynapse.net:1433",
        "SQLPool1/sales.orders",
        (),
        ds("mssql", "SQLPool1/sales.orders"),
    ),
    (
        "azurecosmos://XXXXXXXXXXXX.documents.azure.com/dbs",
        "metrics.colls.orders",
        (),
        ds("azurecosmos", "metrics.colls.orders"),
    ),
    # [EVT] testGcsDataset / testGcsDatasetWithoutSlashInName
    (
        "gs://spark-integration-tests",
        "/spark-integration-test/test_gcs_delta_lake",
        (),
        ds("gcs", "spark-integration-tests/spark-integration-test/test_gcs_delta_lake"),
    ),
    (
        "gs://spark-integration-tests",
        "spark-integration-test/test_gcs_delta_lake",
        (),
        ds("gcs", "spark-integration-tests/spark-integration-test/test_gcs_delta_lake"),
    ),
    # [EVT] testRemoveFilePrefixFromPath: bare "file" keeps the absolute path
    ("file", "/tmp/streaming_output/file.txt", (), ds("file", "/tmp/streaming_output/file.txt")),
    # [EVT] testProcessGlueOlEvent (ol_events/sample_glue.json): pre-0.17 Glue symlink -> glue
    (
        "s3://my-bucket-test",
        "/sample_data/input_data.parquet",
        table("aws:glue:us-west-2:123456789012", "my_glue_database.my_glue_table"),
        ds("glue", "my_glue_database.my_glue_table"),
    ),
    # [EVT] same event, output: a non-Glue TABLE symlink -> hive (even with an unparseable name)
    (
        "s3://my-bucket-test",
        "mydata _output",
        table("s3://my-bucket-test/my-warehouse/", "my_glue_database.my_output_glue_table"),
        ds("hive", "my_glue_database.my_output_glue_table"),
    ),
    # [EVT] testProcess_OL17_GlueOlEvent: "arn:aws:glue:" namespace -> glue
    (
        "s3://my-bucket-test",
        "/sample_data/input_data.parquet",
        table("arn:aws:glue:us-west-2:123456789012", "my_glue_database.my_glue_table"),
        ds("glue", "my_glue_database.my_glue_table"),
    ),
    # [RESOLVER] + [SPEC] Glue name form "table/{database}/{table}" -> "database.table"
    (
        "s3://bucket",
        "warehouse/db/tbl",
        table("arn:aws:glue:us-east-1:111122223333", "table/my_db/my_table"),
        ds("glue", "my_db.my_table"),
    ),
    # [IDENT] testHiveRestAndGlueSymlinkPlatformsRemainUnchanged (no catalog facet)
    (
        "s3://warehouse-bucket",
        "catalog/db/table",
        table("hive://metastore.example:9083", "my_db.events"),
        ds("hive", "my_db.events"),
    ),
    # [RESOLVER] symlinks that are not TABLE are ignored; the last TABLE symlink wins
    (
        "s3://b",
        "p/q",
        (Symlink(namespace="hive://h:9083", name="db.view", type="VIEW"),),
        ds("s3", "b/p/q"),
    ),
    (
        "s3://b",
        "p/q",
        table("hive://h:9083", "db.first") + table("arn:aws:glue:eu-west-1:1", "db.second"),
        ds("glue", "db.second"),
    ),
    # [EVT] testProcessRedshiftOutput (ol_events/redshift_lineage_spark.json) namespaces
    ("mysql://localhost:3306", "datahub.metadata_aspect_v2", (), ds("mysql", "datahub.metadata_aspect_v2")),
    # [EVT] testFlinkJobEvent / testDebeziumJobEvent: kafka topics
    ("kafka://localhost:9092", "lineage-test-topic-json", (), ds("kafka", "lineage-test-topic-json")),
    ("kafka://broker:9092", "debezium.public.product", (), ds("kafka", "debezium.public.product")),
    # [RESOLVER] + [SPEC] other schemes keep the OL name; FS schemes map to DataHub platforms
    ("snowflake://org-account", "DB.SCHEMA.TABLE", (), ds("snowflake", "DB.SCHEMA.TABLE")),
    ("trino://trino.example:8080", "hive.sales.orders", (), ds("trino", "hive.sales.orders")),
    ("hive://metastore:9083", "db.tbl", (), ds("hive", "db.tbl")),
    ("oracle://db:1521", "ORCL.HR.EMP", (), ds("oracle", "ORCL.HR.EMP")),
    ("cassandra://c:9042", "ks.tbl", (), ds("cassandra", "ks.tbl")),
    ("mongodb://m:27017", "db.coll", (), ds("mongodb", "db.coll")),
    ("mssql://h:1433", "db.dbo.t", (), ds("mssql", "db.dbo.t")),
    ("s3a://bucket", "dir/file.parquet", (), ds("s3", "bucket/dir/file.parquet")),
    ("s3n://bucket/", "dir/", (), ds("s3", "bucket/dir")),
    # [RESOLVER] namespace ending in "/" and name starting with "/" are concatenated as-is (DataHub quirk)
    ("s3n://bucket/", "/dir/", (), ds("s3", "bucket//dir")),
    (
        "abfss://container@account.dfs.core.windows.net",
        "raw/events",
        (),
        ds("abs", "container@account.dfs.core.windows.net/raw/events"),
    ),
    (
        "wasbs://container@account.blob.core.windows.net",
        "raw/events",
        (),
        ds("abs", "container@account.blob.core.windows.net/raw/events"),
    ),
    ("dbfs", "/mnt/lake/events", (), ds("dbfs", "/mnt/lake/events")),
    ("dbfs://workspace", "/mnt/lake/events", (), ds("dbfs", "workspace/mnt/lake/events")),
    ("file://host", "/tmp/x.csv", (), ds("file", "host/tmp/x.csv")),
    # [RESOLVER] old Marquez payloads: platform-like namespace, URI in the name
    ("file.localhost", "file:///tmp/data.csv", (), ds("file", "/tmp/data.csv")),
    # [RESOLVER] unknown bare namespace: the namespace is the platform
    ("spark", "my_view", (), ds("spark", "my_view")),
    ("delta", "db.t", (), ds("delta", "db.t")),
    # Never fail: malformed namespaces fall back to DataHub's "unknown" + "namespace/name"
    ("1bad://x", "y", (), ds("unknown", "1bad://x/y")),
    ("urn:li:dataPlatform:x", "t", (), ds("unknown", "urn:li:dataPlatform:x/t")),
    # Reserved characters are percent-encoded as DataHub's Python SDK does
    ("bigquery", "p.d.t(1),x", (), ds("bigquery", "p.d.t%281%29%2Cx")),
]


@pytest.mark.parametrize(("namespace", "name", "symlinks", "expected"), CASES)
def test_datahub_converter_cases(
    namespace: str, name: str, symlinks: tuple[Symlink, ...], expected: str
) -> None:
    assert resolve_dataset_urn(namespace, name, symlinks, config=DEFAULT) == expected


# Every dataset the corpus contains -> the URN DataHub's converter gives it.
CORPUS_EXPECTED = {
    # [GOLDEN] spark_dataproc_simple_producer_test/1.json: Hive TABLE symlink wins over the hdfs path
    ("hdfs://dataproc-producer-test-m", "/user/hive/warehouse/t1"): ds("hive", "default.t1"),
    ("hdfs://dataproc-producer-test-m", "/user/hive/warehouse/t2"): ds("hive", "default.t2"),
    # [GOLDEN] CLL/3.json: symlink namespace "file:/tmp/cll_test" is not Glue -> hive
    ("file", "/tmp/cll_test/cll_source1"): ds("hive", "default.cll_source1"),
    ("file", "/tmp/cll_test/cll_source2"): ds("hive", "default.cll_source2"),
    ("file", "/tmp/cll_test/tbl1"): ds("hive", "default.tbl1"),
    # [GOLDEN] airflow/line_03.json
    ("gs://mock-bucket", "copied.csv"): ds("gcs", "mock-bucket/copied.csv"),
    ("gs://mock-bucket", "test.csv"): ds("gcs", "mock-bucket/test.csv"),
    ("bigquery", "mock-project.test.upload"): ds("bigquery", "mock-project.test.upload"),
    # [GOLDEN] airflow/line_16.json
    ("file", "/files/temp/data.txt"): ds("file", "/files/temp/data.txt"),
    ("gs://mock-bucket", "uploaded_file.txt"): ds("gcs", "mock-bucket/uploaded_file.txt"),
    # Same rules as the golden cases above ([GOLDEN] airflow/*, spark_dataproc_bigquery_shakespare/*)
    ("bigquery", "mock-project.test.upload_cp"): ds("bigquery", "mock-project.test.upload_cp"),
    ("gs://mock-bucket", "result.csv"): ds("gcs", "mock-bucket/result.csv"),
    ("gs://mock-bucket", "to_be_deleted.txt"): ds("gcs", "mock-bucket/to_be_deleted.txt"),
    ("gs://mock-bucket", "uploaded_data.txt"): ds("gcs", "mock-bucket/uploaded_data.txt"),
    ("gs://mock-bucket", "copy_of_uploaded_file.txt"): ds("gcs", "mock-bucket/copy_of_uploaded_file.txt"),
    ("gs://mock-bucket", "copy_of_uploaded_data.txt"): ds("gcs", "mock-bucket/copy_of_uploaded_data.txt"),
    ("gs://mock-bucket", "compose_result.txt"): ds("gcs", "mock-bucket/compose_result.txt"),
    ("file", "/files/temp/downloaded_file.txt"): ds("file", "/files/temp/downloaded_file.txt"),
    ("bigquery", "test.table.input"): ds("bigquery", "test.table.input"),
    ("bigquery", "test.table.output"): ds("bigquery", "test.table.output"),
    ("bigquery", "bigquery-public-data.samples.shakespeare"): ds(
        "bigquery", "bigquery-public-data.samples.shakespeare"
    ),
    ("file", "/tmp/outputs/1729097570970"): ds("file", "/tmp/outputs/1729097570970"),
}


def _corpus_datasets() -> list[tuple[str, str, str, tuple[Symlink, ...]]]:
    found = []
    for path in sorted(CORPUS.rglob("*.json")):
        event = json.loads(path.read_text())
        for dataset in (event.get("inputs") or []) + (event.get("outputs") or []):
            identifiers = ((dataset.get("facets") or {}).get("symlinks") or {}).get("identifiers") or []
            symlinks = tuple(
                Symlink(namespace=i["namespace"], name=i["name"], type=i.get("type")) for i in identifiers
            )
            found.append((str(path.relative_to(CORPUS)), dataset["namespace"], dataset["name"], symlinks))
    return found


def test_every_corpus_dataset_gets_datahubs_urn() -> None:
    datasets = _corpus_datasets()
    assert len(datasets) >= 40  # the corpus is not silently empty
    seen = set()
    for where, namespace, name, symlinks in datasets:
        key = (namespace, name)
        assert key in CORPUS_EXPECTED, f"{where}: no expectation for {key}"
        assert resolve_dataset_urn(namespace, name, symlinks, config=DEFAULT) == CORPUS_EXPECTED[key], where
        seen.add(key)
    assert seen == set(CORPUS_EXPECTED)


def test_symlinks_can_be_disabled() -> None:
    # [EVT] testProcessGlueOlEventSymlinkDisabled; [GOLDEN] hdfs path when the symlink is ignored
    config = PlatformConfig(env="DEV", use_symlinks=False)
    glue = table("aws:glue:us-west-2:123456789012", "my_glue_database.my_glue_table")
    assert resolve_dataset_urn(
        "s3://my-bucket-test", "/sample_data/input_data.parquet", glue, config=config
    ) == ds("s3", "my-bucket-test/sample_data/input_data.parquet", "DEV")
    hive = table("hive://dataproc-producer-test-m:9083", "default.t1")
    assert resolve_dataset_urn(
        "hdfs://dataproc-producer-test-m", "/user/hive/warehouse/t1", hive, config=config
    ) == ds("hdfs", "/user/hive/warehouse/t1", "DEV")


def test_hive_platform_alias() -> None:
    # [EVT] testProcessGlueOlEventWithHiveAlias
    config = PlatformConfig(env="DEV", hive_platform_alias="glue")
    link = table("s3://my-bucket-test/my-warehouse/", "my_glue_database.my_output_glue_table")
    assert resolve_dataset_urn("s3://my-bucket-test", "mydata _output", link, config=config) == ds(
        "glue", "my_glue_database.my_output_glue_table", "DEV"
    )


def test_env_and_common_platform_instance() -> None:
    # [EVT] testProcessOlEventWithSetDatasetFabricType, testProcessRedshiftOutputWithPlatformInstance,
    # testRemoveFilePrefixFromPathWithPlatformInstance
    config = PlatformConfig(env="DEV", platform_instance="my-platform-instance")
    assert resolve_dataset_urn(
        "redshift://c.r:5439", "dev.public.spark_redshift_load_test", config=config
    ) == ds("redshift", "my-platform-instance.dev.public.spark_redshift_load_test", "DEV")
    file_config = PlatformConfig(platform_instance="my-platfrom-instance")
    assert resolve_dataset("file", "/tmp/streaming_output/file.txt", config=file_config) == DatasetRef(
        platform="file",
        name="/tmp/streaming_output/file.txt",
        platform_instance="my-platfrom-instance",
        env="PROD",
    )
    assert resolve_dataset_urn("file", "/tmp/streaming_output/file.txt", config=file_config) == ds(
        "file", "my-platfrom-instance./tmp/streaming_output/file.txt"
    )


def test_platform_specific_instance_and_env_from_path_specs() -> None:
    # [EVT] testProcessRedshiftOutputWithPlatformSpecificPlatformInstance / ...PlatformSpecificEnv
    config = PlatformConfig(
        env="DEV", path_specs=[{"platform": "redshift", "platform_instance": "my-platform-instance"}]
    )
    assert resolve_dataset_urn("mysql://h:3306", "datahub.metadata_aspect_v2", config=config) == ds(
        "mysql", "datahub.metadata_aspect_v2", "DEV"
    )
    assert resolve_dataset_urn("redshift://c:5439", "dev.public.t", config=config) == ds(
        "redshift", "my-platform-instance.dev.public.t", "DEV"
    )
    config = PlatformConfig(env="DEV", path_specs=[PathSpec(platform="redshift", env="PROD")])
    assert resolve_dataset_urn("redshift://c:5439", "dev.public.t", config=config) == ds(
        "redshift", "dev.public.t"
    )


def test_lowercase_urns() -> None:
    # [EVT] testProcessRedshiftOutputLowercasedUrns, [IDENT] lowerCaseDatasetUrns
    config = PlatformConfig(env="DEV", lowercase_urns=True)
    assert resolve_dataset_urn(
        "Redshift://Cluster:5439", "DEV.Public.Spark_Redshift_Load_Test", config=config
    ) == (ds("redshift", "dev.public.spark_redshift_load_test", "DEV"))
    assert resolve_dataset_urn("gs://My-GS-Input-Bucket", "Path/To/My-Input-File.csv", config=config) == ds(
        "gcs", "my-gs-input-bucket/path/to/my-input-file.csv", "DEV"
    )


S3_SPECS = PathSpec(
    platform="s3", path_spec_list=("s3a://wrong-my-bucket/foo/{table}", "s3a://my-bucket/foo/{table}")
)


@pytest.mark.parametrize(
    ("specs", "namespace", "name", "instance", "expected"),
    [
        # [HDFS] testNoPathSpecList
        ((), "s3://my-bucket", "foo/tests/bar.avro", None, ds("s3", "my-bucket/foo/tests/bar.avro")),
        # [HDFS] testPathSpecList
        ((S3_SPECS,), "s3a://my-bucket", "foo/tests/bar.avro", None, ds("s3", "my-bucket/foo/tests")),
        # [HDFS] testNoMatchPathSpecList
        (
            (PathSpec(platform="s3", path_spec_list=("s3a://wrong-my-bucket/foo/{table}",)),),
            "s3a://my-bucket",
            "foo/tests/bar.avro",
            None,
            ds("s3", "my-bucket/foo/tests/bar.avro"),
        ),
        # [HDFS] testPathSpecListPlatformInstance: a matching spec without instance drops the common one
        ((S3_SPECS,), "s3a://my-bucket", "foo/tests/bar.avro", "instance", ds("s3", "my-bucket/foo/tests")),
        # [HDFS] testPathSpecListPathSpecPlatformInstance
        (
            (
                PathSpec(
                    platform="s3", path_spec_list=S3_SPECS.path_spec_list, platform_instance="s3Instance"
                ),
            ),
            "s3a://my-bucket",
            "foo/tests/bar.avro",
            "instance",
            ds("s3", "s3Instance.my-bucket/foo/tests"),
        ),
        # [HDFS] testPathAliasList
        (
            (PathSpec(platform="s3", path_spec_list=("s3a://my-bucket/{table}",)),),
            "s3a://my-bucket",
            "foo/tests/bar.avro",
            None,
            ds("s3", "my-bucket/foo"),
        ),
        # [HDFS] testGcsNoPathSpecList / testGcsPathSpecList / testNoMatchPathSpecListWithFolder
        (
            (PathSpec(platform="gcs", path_spec_list=("s3a://wrong-my-bucket/{table}",)),),
            "gs://my-bucket",
            "foo/tests/bar.avro",
            None,
            ds("gcs", "my-bucket/foo/tests/bar.avro"),
        ),
        (
            (
                PathSpec(
                    platform="gcs",
                    path_spec_list=("s3a://wrong-my-bucket/foo/{table}", "gs://my-bucket/foo/{table}"),
                ),
            ),
            "gs://my-bucket",
            "foo/tests/bar.avro",
            None,
            ds("gcs", "my-bucket/foo/tests"),
        ),
        (
            (),
            "gcs://gcs-spike-standard-offerwall-dev-useast1",
            "events_creation_timestamp_enhanced",
            None,
            ds("gcs", "gcs-spike-standard-offerwall-dev-useast1/events_creation_timestamp_enhanced"),
        ),
        # [EVT] testGenerateUrnFromStreamingDescriptionGCSWithPathSpec ("*" matches one folder)
        (
            (PathSpec(platform="gcs", path_spec_list=("gcs://my-bucket/foo/{table}/*/*/*",)),),
            "gcs://my-bucket",
            "foo/tests/year=2023/month=03/day=11/myfile.parquet",
            None,
            ds("gcs", "my-bucket/foo/tests"),
        ),
        # [EVT] testOpenlineageDatasetWithPathSpec
        (
            (
                PathSpec.from_dict(
                    {
                        "platform": "s3",
                        "path_spec_list": "s3a://data-482ajm7100-longtailcompanions-demo-795586375822-usw2"
                        "/kafka_backup/{table}/year=*/month=*/day=*/*",
                    }
                ),
            ),
            "s3a://data-482ajm7100-longtailcompanions-demo-795586375822-usw2",
            "/kafka_backup/482ajm7100-longtailcompanions_MCL_Timeseries/year=2023/month=03/day=23",
            None,
            ds(
                "s3",
                "data-482ajm7100-longtailcompanions-demo-795586375822-usw2/kafka_backup/"
                "482ajm7100-longtailcompanions_MCL_Timeseries",
            ),
        ),
    ],
)
def test_path_specs(
    specs: tuple[PathSpec, ...], namespace: str, name: str, instance: str | None, expected: str
) -> None:
    config = PlatformConfig(path_specs=specs, platform_instance=instance)
    assert resolve_dataset_urn(namespace, name, config=config) == expected


def test_file_partition_regexp() -> None:
    # [RESOLVER] + DataHub Spark docs `file_partition_regexp`: strip a trailing partition from paths,
    # bare "file"/"dbfs" namespaces included
    config = PlatformConfig(file_partition_regexp="year=.*/month=.*/day=.*")
    assert resolve_dataset_urn("s3://b", "events/year=2024/month=01/day=02", config=config) == ds(
        "s3", "b/events"
    )
    assert resolve_dataset_urn("dbfs", "/mnt/events/year=2024/month=01/day=02", config=config) == ds(
        "dbfs", "/mnt/events"
    )
    assert resolve_dataset_urn("bigquery", "p.year=1/month=2/day=3", config=config) == ds(
        "bigquery", "p.year=1/month=2/day=3"
    )


def test_namespace_overrides_exact_prefix_and_glue_connection_key() -> None:
    config = PlatformConfig.from_dict(
        {
            "env": "PROD",
            "namespace_overrides": {
                "postgres://": {"platform_instance": "pg_default"},
                "postgres://warehouse.internal:5432": {"platform": "redshift", "env": "QA"},
                "s3://raw-": {"platform_instance": "lake", "env": "DEV"},
                # [RESOLVER] toConnectionKey: the Glue ARN of the symlink selects the connection
                "arn:aws:glue:us-east-1:111122223333": {"platform_instance": "glue_main"},
            },
        }
    )
    assert resolve_dataset_urn("postgres://warehouse.internal:5432", "db.s.t", config=config) == ds(
        "redshift", "db.s.t", "QA"
    )
    assert resolve_dataset_urn("postgres://other:5432", "db.s.t", config=config) == ds(
        "postgres", "pg_default.db.s.t"
    )
    assert resolve_dataset_urn("s3://raw-events", "2024/x.json", config=config) == ds(
        "s3", "lake.raw-events/2024/x.json", "DEV"
    )
    glue = table("arn:aws:glue:us-east-1:111122223333", "table/db/t")
    assert resolve_dataset_urn("s3://curated", "db/t", glue, config=config) == ds("glue", "glue_main.db.t")
    assert resolve_dataset_urn("bigquery", "p.d.t", config=config) == ds("bigquery", "p.d.t")


def test_aliases_remember_symlinked_identity_across_events() -> None:
    # [RESOLVER] urnAliases: once a path was seen with its table symlink, the bare path maps to the table
    aliases: dict[DatasetRef, DatasetRef] = {}
    link = table("hive://h:9083", "default.t1")
    first = resolve_dataset("hdfs://nn", "/warehouse/t1", link, config=DEFAULT, aliases=aliases)
    later = resolve_dataset("hdfs://nn", "/warehouse/t1", (), config=DEFAULT, aliases=aliases)
    assert dataset_urn(first) == dataset_urn(later) == ds("hive", "default.t1")
    assert resolve_dataset_urn("hdfs://nn", "/warehouse/t1", config=DEFAULT) == ds("hdfs", "/warehouse/t1")


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="env"):
        PlatformConfig(env="production")
    with pytest.raises(ConfigError, match="unknown setting"):
        PlatformConfig.from_dict({"lowercase": True})
    with pytest.raises(ConfigError, match="file_partition_regexp"):
        PlatformConfig(file_partition_regexp="(")
    with pytest.raises(ConfigError, match="platform"):
        PlatformConfig.from_dict({"path_specs": [{"path_spec_list": ["s3://b/{table}"]}]})
    with pytest.raises(ConfigError, match="table"):
        PlatformConfig.from_dict({"path_specs": [{"platform": "s3", "path_spec_list": ["s3://b/*"]}]})
    assert PlatformConfig.from_dict({"env": "dev"}).env == "DEV"
    assert PlatformConfig.from_dict({"use_symlinks": "false", "lowercase_urns": "yes"}) == PlatformConfig(
        use_symlinks=False, lowercase_urns=True
    )
    with pytest.raises(ConfigError):
        PlatformConfig.from_dict({"use_symlinks": "maybe"})
    assert PlatformConfig.from_dict(None) == PlatformConfig()
    override = PlatformConfig.from_dict(
        {"namespace_overrides": {"kafka://": {"env": "qa"}}}
    ).namespace_overrides
    assert override == (NamespaceOverride(namespace="kafka://", env="QA"),)


text = st.text(min_size=1, max_size=40)
solid = text.filter(str.strip)  # the model rejects blank symlink parts
symlink = st.builds(Symlink, namespace=solid, name=solid, type=st.sampled_from([None, "TABLE", "VIEW"]))
namespaces = st.one_of(
    text,
    st.tuples(
        st.sampled_from(["s3://", "gs://", "file://", "hdfs://", "postgres://", "arn:aws:glue:", "x:"]),
        st.text(),
    )
    .map("".join)
    .filter(bool),
)


@settings(max_examples=300, deadline=None)
@given(namespaces, text, st.lists(symlink, max_size=3), st.booleans(), st.booleans())
def test_never_raises_and_builds_valid_urns(
    namespace: str, name: str, links: list[Symlink], lower: bool, use_symlinks: bool
) -> None:
    from datahub.metadata.urns import DatasetUrn

    config = PlatformConfig(lowercase_urns=lower, use_symlinks=use_symlinks, platform_instance="inst")
    urn = resolve_dataset_urn(namespace, name, links, config=config)
    parsed = DatasetUrn.from_string(urn)
    assert parsed.urn() == urn
    assert parsed.env == "PROD"


CATALOG = "https://catalog.example/api/catalog"


def test_iceberg_catalog_and_blank_logical_names() -> None:
    # [IDENT] testIcebergCatalogSelectsIcebergPlatformCaseInsensitively
    lower = PlatformConfig(lowercase_urns=True)
    link = table(CATALOG, "table/Analytics/Events")
    assert resolve_dataset_urn(
        "s3://warehouse-bucket", "catalog/db/table", link, config=lower, catalog_framework="IcEbErG"
    ) == ds("iceberg", "analytics.events")
    # [IDENT] testIcebergCatalogPreservesConnectionInstanceAndEnvironment (connection keyed by the
    # symlink's namespace)
    config = PlatformConfig(
        env="QA", namespace_overrides={CATALOG: {"platform_instance": "iceberg_prod", "env": "PROD"}}
    )
    assert resolve_dataset_urn(
        "s3://warehouse-bucket",
        "catalog/db/table",
        table(CATALOG, "my_db.events"),
        config=config,
        catalog_framework="iceberg",
    ) == ds("iceberg", "iceberg_prod.my_db.events")
    # [IDENT] testHiveRestAndGlueSymlinkPlatformsRemainUnchanged: Glue wins over the iceberg framework
    glue = table("arn:aws:glue:us-east-1:111122223333", "my_db.events")
    assert resolve_dataset_urn(
        "s3://warehouse-bucket", "catalog/db/table", glue, config=DEFAULT, catalog_framework="iceberg"
    ) == ds("glue", "my_db.events")
    # [IDENT] testMissingLogicalNameKeepsPhysicalIdentity
    # (a whitespace-only name never reaches us: the model rejects blank symlink names)
    for blank in ("table/",):
        assert resolve_dataset_urn(
            "s3://warehouse-bucket",
            "catalog/db/table",
            table(CATALOG, blank),
            config=DEFAULT,
            catalog_framework="iceberg",
        ) == ds("s3", "warehouse-bucket/catalog/db/table")
    # [IDENT] testPhysicalIdentityContinuesToResolveThroughIcebergAlias
    aliases: dict[DatasetRef, DatasetRef] = {}
    logical = resolve_dataset_urn(
        "s3://warehouse-bucket",
        "catalog/db/table",
        table(CATALOG, "my_db.events"),
        config=DEFAULT,
        catalog_framework="iceberg",
        aliases=aliases,
    )
    assert (
        resolve_dataset_urn("s3://warehouse-bucket", "catalog/db/table", config=DEFAULT, aliases=aliases)
        == logical
    )
