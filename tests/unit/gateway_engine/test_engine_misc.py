"""Override of a required field, @provides on a union, differing enums/inputs, @inaccessible
arguments and enum values, introspection, header forwarding and tracing hooks."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.engine import GraphQLRequest, RequestError
from gateway.federation_engine import FederationEngine
from tests.unit.gateway_engine.engine_harness import make_engine, plan_of, run
from tests.unit.gateway_engine.engine_misc import make_misc
from tests.unit.gateway_engine.engine_subgraph import Subgraph


@pytest.fixture
def misc() -> dict[str, Subgraph]:
    return make_misc()


@pytest.fixture
def engine(misc: dict[str, Subgraph]) -> FederationEngine:
    return make_engine("misc", misc)


def shape(plan: list[list[dict[str, Any]]]) -> list[tuple[str, list[Any], list[int]]]:
    return [(f["subgraph"], f["path"], f["dependsOn"]) for step in plan for f in step]


async def test_required_field_that_was_overridden_comes_from_the_new_owner(
    engine: FederationEngine, misc: dict[str, Subgraph]
) -> None:
    query = "{ items { id shipping } }"
    assert shape(plan_of(engine, query)) == [
        ("stock", [], []),
        ("logistics", ["items"], [0]),
        ("shipping", ["items"], [0, 1]),
    ]

    result = await run(engine, query)

    assert result == {
        "data": {"items": [{"id": "i1", "shipping": 5}, {"id": "i2", "shipping": 25}]}
    }
    assert misc["shipping"].requests[0]["variables"]["representations"] == [
        {"__typename": "Item", "id": "i1", "weightGrams": 500},
        {"__typename": "Item", "id": "i2", "weightGrams": 2500},
    ]


async def test_provides_on_a_union_avoids_the_owner_fetch(
    engine: FederationEngine, misc: dict[str, Subgraph]
) -> None:
    query = "{ feed { ... on Note { text } ... on Item { id } } }"
    assert [s for s, _, _ in shape(plan_of(engine, query))] == ["stock"]

    result = await run(engine, query)

    assert result == {"data": {"feed": [{"id": "i1"}, {"text": "provided by stock"}]}}
    assert misc["logistics"].requests == []


async def test_override_from_a_missing_subgraph_changes_nothing(engine: FederationEngine) -> None:
    result = await run(engine, "{ notes { text mood } }")

    assert result == {"data": {"notes": [{"text": "from logistics", "mood": "calm"}]}}


async def test_inaccessible_enum_value_from_a_subgraph_is_an_error(
    engine: FederationEngine,
) -> None:
    result = await run(engine, "{ items { id kind } }")

    assert result == {
        "data": {"items": [{"id": "i1", "kind": "SMALL"}, {"id": "i2", "kind": None}]},
        "errors": [
            {
                "message": "Enum 'Kind' cannot represent value: 'SECRET'",
                "path": ["items", 1, "kind"],
            }
        ],
    }


async def test_inaccessible_arguments_enum_values_and_input_fields_are_hidden(
    engine: FederationEngine,
) -> None:
    schema = engine.api_schema
    query_type = schema.query_type
    assert query_type is not None
    assert set(query_type.fields["items"].args) == {"filter"}
    assert set(schema.get_type("Kind").values) == {"SMALL", "LARGE"}  # type: ignore[union-attr]
    assert set(schema.get_type("Filter").fields) == {"minSize"}  # type: ignore[union-attr]
    with pytest.raises(RequestError):
        engine.prepare(GraphQLRequest(query="{ items(debug: true) { id } }"))


async def test_input_variables_are_declared_with_the_clients_types(
    engine: FederationEngine, misc: dict[str, Subgraph]
) -> None:
    query = "query Find($f: Filter = {minSize: 2}) { search(filter: $f) { id altKind } }"

    result = await run(engine, query)

    assert result == {"data": {"search": [{"id": "i2", "altKind": "LARGE"}]}}
    sent = misc["logistics"].requests[0]
    assert sent["query"].startswith("query Find__logistics__0($f:Filter){search(filter:$f)")
    assert sent["variables"] == {"f": {"minSize": 2}}


async def test_introspection_is_answered_from_the_api_schema_next_to_data(
    engine: FederationEngine,
) -> None:
    result = await run(
        engine,
        '{ __type(name: "Kind") { enumValues { name } } notes { text } '
        "__schema { queryType { name } } }",
    )

    assert result == {
        "data": {
            "__type": {"enumValues": [{"name": "SMALL"}, {"name": "LARGE"}]},
            "notes": [{"text": "from logistics"}],
            "__schema": {"queryType": {"name": "Query"}},
        }
    }


async def test_headers_are_forwarded_and_trace_context_injected(misc: dict[str, Subgraph]) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = make_engine("misc", misc, tracer=provider.get_tracer("test"))

    await run(
        engine,
        "{ items { shipping } }",
        headers={"Authorization": "Bearer abc", "Content-Length": "12", "x-tenant": "acme"},
    )

    names = [s.name for s in exporter.get_finished_spans()]
    assert names.count("graphql.operation") == 1
    assert names.count("graphql.plan_node") == 3
    fetch_spans = [s for s in exporter.get_finished_spans() if s.name == "graphql.fetch"]
    assert sorted(str((s.attributes or {})["subgraph"]) for s in fetch_spans) == [
        "logistics",
        "shipping",
        "stock",
    ]
    for subgraph in misc.values():
        for request in subgraph.requests:
            headers = request["headers"]
            assert headers["authorization"] == "Bearer abc"
            assert headers["x-tenant"] == "acme"
            assert headers["traceparent"].startswith("00-")
            assert headers["content-length"] != "12"


async def test_null_bubbles_through_non_null_list_to_the_nearest_nullable_field(
    engine: FederationEngine,
) -> None:
    result = await run(engine, "{ items { id labels { id text } } }")

    assert result == {
        "data": {"items": [{"id": "i1", "labels": [{"id": "i1-a", "text": "I1-A"}]}, None]},
        "errors": [
            {
                "message": "Cannot return null for non-nullable field Label.text.",
                "path": ["items", 1, "labels", 1, "text"],
            }
        ],
    }
