"""Cross-check against Apollo's own composition (@apollo/composition, pinned in package-lock.json).

Every fixture set under tests/gateway_fixtures/composition/sets is composed by both;
the supergraphs must be equivalent (same types, fields and join directives, order and
descriptions aside). Every error fixture must fail with the same error codes in both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest
from graphql import (
    DirectiveDefinitionNode,
    DirectiveNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    SchemaDefinitionNode,
    TypeDefinitionNode,
    UnionTypeDefinitionNode,
    parse,
    print_ast,
)

from gateway.composition import CompositionError, SubgraphDefinition, compose
from tests.unit.gateway_composition.composition_generator import random_subgraphs
from tests.unit.gateway_composition.composition_support import FIXTURES, args_of, load_set

SETS = sorted(p for p in (FIXTURES / "sets").iterdir() if p.is_dir())
ERRORS = sorted(p for p in (FIXTURES / "errors").iterdir() if p.is_dir())

RANDOM_SEEDS = range(200)


def _cases() -> dict[str, list[SubgraphDefinition]]:
    cases = {f"set:{p.name}": load_set(p) for p in SETS}
    cases.update({f"error:{p.name}": load_set(p) for p in ERRORS})
    cases.update({f"random:{seed}": random_subgraphs(seed) for seed in RANDOM_SEEDS})
    return cases


@pytest.fixture(scope="module")
def apollo() -> dict[str, dict[str, Any]]:
    """Apollo's result for every case, computed in one node process (startup dominates)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so Apollo's composition cannot run for the cross-check")
    installed = subprocess.run(
        [str(FIXTURES / "install.sh")], capture_output=True, text=True, check=False, timeout=600
    )
    if installed.returncode != 0:
        pytest.fail(f"installing @apollo/composition failed:\n{installed.stderr}")
    payload = {
        "cases": {
            case: {"subgraphs": [{"name": s.name, "url": s.url, "sdl": s.sdl} for s in subgraphs]}
            for case, subgraphs in _cases().items()
        }
    }
    done = subprocess.run(
        [node, str(FIXTURES / "compose.mjs")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"Apollo's composition crashed:\n{done.stderr}")
    results: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return results


def _directives(nodes: Sequence[DirectiveNode] | None) -> list[str]:
    return sorted(d.name.value + json.dumps(args_of(d), sort_keys=True) for d in nodes or ())


def normalise(sdl: str) -> dict[str, Any]:
    """What must agree between two supergraphs: everything but order and descriptions."""
    shape: dict[str, Any] = {}
    for definition in parse(sdl).definitions:
        if isinstance(definition, SchemaDefinitionNode):
            shape["schema"] = {
                "links": _directives(definition.directives),
                "roots": sorted(
                    (o.operation.value, o.type.name.value) for o in definition.operation_types
                ),
            }
        elif isinstance(definition, DirectiveDefinitionNode):
            shape[f"@{definition.name.value}"] = print_ast(definition).split('"""')[-1].strip()
        elif isinstance(definition, TypeDefinitionNode):
            entry: dict[str, Any] = {
                "kind": definition.kind,
                "directives": _directives(definition.directives),
                "interfaces": sorted(
                    i.name.value for i in getattr(definition, "interfaces", None) or ()
                ),
            }
            if isinstance(definition, UnionTypeDefinitionNode):
                entry["members"] = sorted(t.name.value for t in definition.types or ())
            if isinstance(definition, EnumTypeDefinitionNode):
                entry["values"] = {
                    v.name.value: _directives(v.directives) for v in definition.values or ()
                }
            fields = {}
            for field in getattr(definition, "fields", None) or ():
                arguments = field.arguments if isinstance(field, FieldDefinitionNode) else ()
                default = getattr(field, "default_value", None)
                fields[field.name.value] = {
                    "type": print_ast(field.type),
                    "default": print_ast(default) if default else None,
                    "directives": _directives(field.directives),
                    "arguments": {
                        a.name.value: [
                            print_ast(a.type),
                            print_ast(a.default_value) if a.default_value else None,
                            _directives(a.directives),
                        ]
                        for a in arguments or ()
                    },
                }
            entry["fields"] = fields
            shape[definition.name.value] = entry
    return shape


@pytest.mark.parametrize("directory", SETS, ids=[p.name for p in SETS])
def test_supergraph_is_equivalent_to_apollos(directory, apollo: dict[str, dict[str, Any]]) -> None:
    theirs = apollo[f"set:{directory.name}"]
    ours = compose(load_set(directory))

    assert "supergraphSdl" in theirs, theirs.get("errors")
    assert normalise(ours) == normalise(theirs["supergraphSdl"])


@pytest.mark.parametrize("directory", SETS, ids=[p.name for p in SETS])
def test_supergraph_text_is_identical_to_apollos(
    directory, apollo: dict[str, dict[str, Any]]
) -> None:
    assert compose(load_set(directory)) == apollo[f"set:{directory.name}"]["supergraphSdl"]


@pytest.mark.parametrize("directory", ERRORS, ids=[p.name for p in ERRORS])
def test_error_codes_match_apollos(directory, apollo: dict[str, dict[str, Any]]) -> None:
    theirs = apollo[f"error:{directory.name}"]
    with pytest.raises(CompositionError) as caught:
        compose(load_set(directory))

    assert "errors" in theirs, "Apollo composed a fixture meant to fail"
    assert sorted(set(caught.value.codes)) == sorted({e["code"] for e in theirs["errors"]})


@pytest.mark.parametrize("directory", ERRORS, ids=[p.name for p in ERRORS])
def test_error_fixture_fails_with_its_expected_code(directory) -> None:
    expected = (directory / "expected_code").read_text().strip()

    with pytest.raises(CompositionError) as caught:
        compose(load_set(directory))

    assert expected in caught.value.codes


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_subgraph_sets_compose_exactly_like_apollo(
    seed: int, apollo: dict[str, dict[str, Any]]
) -> None:
    subgraphs = random_subgraphs(seed)

    theirs = apollo[f"random:{seed}"]
    try:
        ours: str | None = compose(subgraphs)
        our_codes: list[str] = []
    except CompositionError as exc:
        ours, our_codes = None, sorted(set(exc.codes))

    if "errors" in theirs:
        assert our_codes == sorted({e["code"] for e in theirs["errors"]}), theirs["errors"]
    else:
        assert ours == theirs["supergraphSdl"], our_codes
