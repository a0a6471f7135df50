"""@provides on interfaces and union members, join__field(type:), failed fetches, progressive
@override, forwarded client directives and fetch counts on graphs with several choices."""

from __future__ import annotations

import random
from typing import Any

import pytest

from gateway.engine import GraphQLRequest, RequestError
from gateway.federation_engine import FederationEngine
from tests.unit.gateway_engine.engine_harness import make_engine, plan_of, run
from tests.unit.gateway_engine.engine_subgraph import Subgraph
from tests.unit.gateway_engine.engine_zoo import make_zoo


@pytest.fixture
def zoo() -> dict[str, Subgraph]:
    return make_zoo()


@pytest.fixture
def engine(zoo: dict[str, Subgraph]) -> FederationEngine:
    return make_engine("zoo", zoo)


def shape(plan: list[list[dict[str, Any]]]) -> list[tuple[str, list[Any], list[int]]]:
    return [(f["subgraph"], f["path"], f["dependsOn"]) for step in plan for f in step]


def operations(plan: list[list[dict[str, Any]]]) -> list[str]:
    return [f["operation"] for step in plan for f in step]


class FixedRoll(random.Random):
    """A Random whose every roll is ``value`` (progressive override decisions)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


# -- @provides on an interface-typed field and on union members ---------------------------


async def test_provides_on_interface_field_needs_no_fetch_for_the_provided_type(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    query = "{ star { ... on Dog { id name } } }"
    assert operations(plan_of(engine, query)) == [
        "query{star{__typename ...on Dog{__typename id name}}}"
    ]

    result = await run(engine, query)

    assert result == {"data": {"star": {"id": "d1", "name": "Rex (provided)"}}}
    assert zoo["registry"].requests == []


async def test_interface_field_provided_for_one_implementation_is_split_per_type(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    query = "{ star { name } }"
    plan = plan_of(engine, query)
    assert shape(plan) == [("zoo", [], []), ("registry", ["star"], [0])]
    assert operations(plan) == [
        "query{star{__typename ...on Cat{__typename __k_id:id} ...on Dog{__typename name}}}",
        "query($representations:[_Any!]!){_entities(representations:$representations)"
        "{...on Cat{__typename name}}}",
    ]

    result = await run(engine, query)

    # The star is a Dog: the Cat-only fetch has no representations and is never sent.
    assert result == {"data": {"star": {"name": "Rex (provided)"}}}
    assert zoo["registry"].requests == []


async def test_provides_on_interface_field_fetches_what_it_does_not_provide(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    query = "{ star { ... on Dog { name age } } }"
    plan = plan_of(engine, query)
    assert shape(plan) == [("zoo", [], []), ("registry", ["star"], [0])]
    assert operations(plan)[1].endswith("{...on Dog{__typename age}}}")

    result = await run(engine, query)

    assert result == {"data": {"star": {"name": "Rex (provided)", "age": 3}}}
    assert zoo["registry"].requests[0]["variables"]["representations"] == [
        {"__typename": "Dog", "id": "d1"}
    ]


async def test_interface_field_external_in_every_implementation_goes_to_its_owner(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    query = "{ pets { name } }"
    assert shape(plan_of(engine, query)) == [("zoo", [], []), ("registry", ["pets"], [0])]

    result = await run(engine, query)

    assert result == {"data": {"pets": [{"name": "Rex"}, {"name": "Tom"}, {"name": "Fido"}]}}


async def test_provides_on_union_members_avoids_owner_fetch_until_more_is_asked(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    provided = "{ pick { ... on Dog { name } ... on Cat { name } } }"
    assert shape(plan_of(engine, provided)) == [("zoo", [], [])]
    assert await run(engine, provided) == {"data": {"pick": {"name": "Tom (provided)"}}}
    assert zoo["registry"].requests == []

    more = "{ pick { ... on Cat { name lives } } }"
    plan = plan_of(engine, more)
    assert shape(plan) == [("zoo", [], []), ("registry", ["pick"], [0])]
    assert operations(plan)[1].endswith("{...on Cat{__typename lives}}}")
    assert await run(engine, more) == {"data": {"pick": {"name": "Tom (provided)", "lives": 7}}}


# -- join__field(type:) -------------------------------------------------------------------


async def test_field_with_its_own_type_in_a_subgraph_is_aliased_and_unaliased(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    # zoo: Dog.nickname String!, Cat.nickname String; the API merges both to String.
    # Unaliased, zoo would reject the fragments as conflicting.
    query = "{ pets { ... on Dog { nickname } ... on Cat { nickname } } }"
    assert operations(plan_of(engine, query)) == [
        "query{pets{__typename ...on Cat{__typename nickname} "
        "...on Dog{__typename __s_nickname:nickname}}}"
    ]

    result = await run(engine, query)

    assert result == {
        "data": {"pets": [{"nickname": "rexy"}, {"nickname": None}, {"nickname": "fid"}]}
    }


# -- failed fetches -----------------------------------------------------------------------


async def test_failed_entity_fetch_is_one_error_at_the_first_entity_path(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    zoo["registry"].fail_with_status = 503

    result = await run(engine, "{ pets { id name } }")

    assert result == {
        "data": {
            "pets": [
                {"id": "d1", "name": None},
                {"id": "c1", "name": None},
                {"id": "d2", "name": None},
            ]
        },
        "errors": [
            {
                "message": "HTTP fetch failed from 'registry': 503 Service Unavailable",
                "path": ["pets", 0],
                "extensions": {
                    "code": "SUBREQUEST_HTTP_ERROR",
                    "serviceName": "registry",
                    "http": {"status": 503},
                },
            }
        ],
    }


async def test_failed_fetch_nulls_non_null_fields_by_the_spec_with_a_single_error(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    zoo["vet"].fail_with_status = 500

    result = await run(engine, "{ keeper { badge pets { name checkups } } }")

    # checkups is Int!: each Dog (nullable list items) becomes null, with no extra errors.
    assert result["data"] == {"keeper": {"badge": "registry-badge", "pets": [None, None]}}
    assert [(e["path"], e["extensions"]["serviceName"]) for e in result["errors"]] == [
        (["keeper", "pets", 0], "vet")
    ]


async def test_failed_root_fetch_error_carries_the_root_field_path(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    zoo["zoo"].fail_with_status = 500

    result = await run(engine, "{ pets { id } star { id } }")

    assert result["data"] == {"pets": None, "star": None}
    assert [(e["path"], e["extensions"]["code"]) for e in result["errors"]] == [
        (["pets"], "SUBREQUEST_HTTP_ERROR")
    ]


async def test_subgraph_answering_without_data_errors_at_the_affected_entity(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    def broken(_rep: dict[str, Any]) -> Any:
        raise ValueError("never reached")

    zoo["vet"].entities["Dog"] = broken
    # _entities fails as a whole (path ["_entities"], data null): the error lands on the
    # first entity and the non-null checkups bubble without further errors.
    result = await run(engine, "{ keeper { pets { checkups } } }")

    assert result == {
        "data": {"keeper": {"pets": [None, None]}},
        "errors": [
            {
                "message": "never reached",
                "path": ["keeper", "pets", 0],
                "extensions": {"code": "DOWNSTREAM_SERVICE_ERROR", "serviceName": "vet"},
            }
        ],
    }


# -- progressive @override ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roll", "chip_from"),
    [(0.2, "vet"), (0.8, "registry")],
)
async def test_progressive_override_percent_labels_decide_per_request(
    zoo: dict[str, Subgraph], roll: float, chip_from: str
) -> None:
    engine = make_engine("zoo", zoo, override_random=FixedRoll(roll))
    query = "{ keeper { pets { chip } } }"

    plan = plan_of(engine, query)

    assert [s for s, _, _ in shape(plan)] == (
        ["registry", "vet"] if chip_from == "vet" else ["registry"]
    )
    result = await run(engine, query)
    chip = f"{chip_from}-chip"
    assert result == {"data": {"keeper": {"pets": [{"chip": chip}, {"chip": chip}]}}}


@pytest.mark.parametrize("roll", [0.0, 0.5, 0.999])
async def test_progressive_override_percent_0_never_and_100_always_overrides(
    zoo: dict[str, Subgraph], roll: float
) -> None:
    engine = make_engine("zoo", zoo, override_random=FixedRoll(roll))

    result = await run(engine, "{ keeper { pets { weight vaccinated } } }")

    # weight: percent(0), stays with registry (10); vaccinated: percent(100), vet (True).
    assert result == {
        "data": {
            "keeper": {
                "pets": [{"weight": 10, "vaccinated": True}, {"weight": 10, "vaccinated": True}]
            }
        }
    }
    assert "weight" not in zoo["vet"].queries()[0]


async def test_progressive_override_plans_are_cached_per_label_decision(
    zoo: dict[str, Subgraph],
) -> None:
    roll = FixedRoll(0.2)
    engine = make_engine("zoo", zoo, override_random=roll)
    query = "{ keeper { pets { chip } } }"

    first = plan_of(engine, query)
    roll.value = 0.9
    second = plan_of(engine, query)
    roll.value = 0.1
    third = plan_of(engine, query)

    assert len(shape(first)) == 2
    assert len(shape(second)) == 1
    assert third == first
    assert engine.stats.plan_cache_misses == 2


# -- client directives ----------------------------------------------------------------------


async def test_executable_directives_of_every_subgraph_are_forwarded(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    query = "{ pets { id @lowercase ... on Dog { age @lowercase } } }"
    plan = plan_of(engine, query)
    assert operations(plan)[0] == (
        "query{pets{__typename ...on Cat{__typename id @lowercase} "
        "...on Dog{__typename id @lowercase __k_id:id}}}"
    )
    assert operations(plan)[1].endswith("{...on Dog{__typename age @lowercase}}}")

    result = await run(engine, query)

    assert result == {
        "data": {"pets": [{"id": "d1", "age": 3}, {"id": "c1"}, {"id": "d2", "age": 5}]}
    }


async def test_forwarded_directive_arguments_declare_and_send_their_variables(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    query = "query Q($s: String!, $d: Boolean!) { star { id @format(style: $s) } "
    query += "pets @include(if: $d) { id } }"

    result = await run(engine, query, {"s": "upper", "d": False})

    assert result == {"data": {"star": {"id": "d1"}}}
    sent = zoo["zoo"].requests[0]
    assert sent["query"] == "query Q__zoo__0($s:String!){star{__typename id @format(style: $s)}}"
    assert sent["variables"] == {"s": "upper"}


async def test_unknown_client_directive_is_a_request_error_not_a_planning_crash(
    engine: FederationEngine,
) -> None:
    with pytest.raises(RequestError):
        engine.prepare(GraphQLRequest(query="{ pets { id @uppercase } }"))


# -- fetch counts on graphs with several choices ---------------------------------------------


async def test_shareable_root_goes_to_the_subgraph_that_resolves_the_most(
    engine: FederationEngine,
) -> None:
    # keeper is in zoo and registry; only registry has pets: starting there saves a fetch.
    assert shape(plan_of(engine, "{ keeper { badge pets { name age } } }")) == [
        ("registry", [], [])
    ]
    assert shape(plan_of(engine, "{ keeper { badge } }")) == [("registry", [], [])]


async def test_local_and_shareable_fields_never_cause_a_jump(engine: FederationEngine) -> None:
    # nickname is shareable and local to zoo; name and age share one registry fetch.
    query = "{ pets { id ... on Dog { nickname name age } ... on Cat { nickname name lives } } }"
    plan = plan_of(engine, query)
    assert shape(plan) == [("zoo", [], []), ("registry", ["pets"], [0])]
    assert "nickname" not in operations(plan)[1]


async def test_fields_of_one_subgraph_below_a_jump_share_its_fetch(
    engine: FederationEngine, zoo: dict[str, Subgraph]
) -> None:
    query = "{ keeper { pets { name checkups vaccinated } } }"
    plan = plan_of(engine, query)
    assert shape(plan) == [("registry", [], []), ("vet", ["keeper", "pets"], [0])]

    result = await run(engine, query)

    pets = [{"name": n, "checkups": 2, "vaccinated": True} for n in ("Rex", "Fido")]
    assert result == {"data": {"keeper": {"pets": pets}}}
    assert len(zoo["vet"].requests) == 1


async def test_independent_jumps_from_one_object_run_in_parallel_off_the_first_fetch(
    engine: FederationEngine,
) -> None:
    # name is provided by zoo; age (registry) and checkups (vet) need only the Dog's id.
    plan = plan_of(engine, "{ star { ... on Dog { name age checkups } } }")

    assert shape(plan) == [("zoo", [], []), ("registry", ["star"], [0]), ("vet", ["star"], [0])]
