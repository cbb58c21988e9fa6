"""Property tests: any well-formed neutral event translates, and DataHub accepts every MCP.

Names are drawn with DataHub's reserved URN characters, unicode, dots and
colons; producers are arbitrary text (an unknown producer must never fail an
event). Each MCP is checked with acryl-datahub (tests/_datahub_reference.py).
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.model import (
    ColumnLineage,
    Dataset,
    ErrorInfo,
    InputField,
    Job,
    Owner,
    ParentRun,
    Run,
    RunEvent,
    SchemaField,
    Symlink,
    Tag,
)
from tests._datahub_reference import check_mcp
from translators.datahub import DataHubTranslator, TranslatorConfig

_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
text = st.text(_ALPHABET, min_size=1, max_size=12).filter(lambda s: s.strip())
names = st.one_of(text, st.sampled_from(["a.b", "db.schema.t(1),x", "dag.task", "x:y", "/tmp/p q", "ü.ß"]))
namespaces = st.one_of(
    text,
    st.sampled_from(
        ["postgres://h:5432", "gs://bucket", "s3a://b/p", "hdfs://nn:8020", "bigquery", "file", "kafka://k:9092",
         "arn:aws:glue:us-east-1:123", "weird://", "snowflake://acct.eu"]
    ),
)  # fmt: skip
native_types = st.one_of(st.none(), text, st.sampled_from(["int", "array<string>", "struct", "decimal(1,2)"]))


@st.composite
def fields(draw, depth: int = 0):
    children = draw(st.lists(fields(depth + 1), max_size=2)) if depth < 2 else []
    return SchemaField(
        name=draw(names), type=draw(native_types), description=draw(st.none() | text), fields=children
    )


@st.composite
def datasets(draw):
    ns, name = draw(namespaces), draw(names)
    lineage = draw(
        st.lists(
            st.builds(
                ColumnLineage,
                output_field=names,
                inputs=st.lists(
                    st.builds(InputField, namespace=namespaces, name=names, field=names), max_size=2
                ),
            ),
            max_size=2,
        )
    )
    return Dataset(
        namespace=ns,
        name=name,
        fields=draw(st.none() | st.lists(fields(), max_size=3)),
        description=draw(st.none() | text),
        owners=draw(st.lists(st.builds(Owner, name=text, type=st.none() | text), max_size=2)),
        tags=draw(
            st.lists(st.builds(Tag, key=text, value=st.none() | text, field=st.none() | names), max_size=2)
        ),
        symlinks=draw(
            st.lists(st.builds(Symlink, namespace=namespaces, name=names, type=st.just("TABLE")), max_size=1)
        ),
        column_lineage=lineage,
        lifecycle_state=draw(st.none() | st.sampled_from(["CREATE", "OVERWRITE", "RENAME"])),
    )


@st.composite
def run_events(draw):
    parent = draw(
        st.none()
        | st.builds(
            ParentRun, run_id=text, job_namespace=namespaces, job_name=names, root_job_name=st.none() | names
        )
    )
    job = Job(
        namespace=draw(namespaces),
        name=draw(names),
        integration=draw(st.none() | text),
        job_type=draw(st.none() | text),
        owners=draw(st.lists(st.builds(Owner, name=text, type=st.none() | text), max_size=2)),
        tags=draw(st.lists(st.builds(Tag, key=text, value=st.none() | text), max_size=2)),
        description=draw(st.none() | text),
        sql=draw(st.none() | text),
    )
    run = Run(
        run_id=draw(text),
        parent=parent,
        processing_engine=draw(st.none() | text),
        error=draw(st.none() | st.builds(ErrorInfo, message=text)),
    )
    return RunEvent(
        event_type=draw(st.sampled_from(["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"])),
        event_time=draw(st.datetimes(min_value=dt.datetime(2000, 1, 1), timezones=st.just(dt.UTC))),
        run=run,
        job=job,
        producer=draw(st.text(_ALPHABET, max_size=40)),
        inputs=draw(st.lists(datasets(), max_size=2)),
        outputs=draw(st.lists(datasets(), max_size=2)),
    )


CONFIGS = [
    TranslatorConfig(emit_upstream_lineage=True, capture_raw_facets=True),
    TranslatorConfig.from_dict({"platform_instance": "eu", "lowercase_urns": True, "flow_naming": "parent"}),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=run_events(), config=st.sampled_from(CONFIGS))
def test_any_event_translates_to_mcps_datahub_accepts(event, config):
    mcps = DataHubTranslator(config).translate(event)
    assert [m.to_obj() for m in mcps] == [m.to_obj() for m in DataHubTranslator(config).translate(event)]
    for mcp in mcps:
        check_mcp(mcp)
    if not event.inputs and not event.outputs:
        assert "dataJobInputOutput" not in {m.aspect_name for m in mcps}
