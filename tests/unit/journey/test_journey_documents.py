from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.journey.domain.default_journeys import DEFAULT_CATALOG, PURCHASE
from services.journey.domain.definitions import (
    catalog_of,
    describe,
    journey_document,
    journey_of,
    trigger_of,
)
from services.journey.domain.journeys import DefinitionError
from services.journey.domain.triggers import InactiveInStage


@pytest.mark.parametrize("journey", DEFAULT_CATALOG.definitions, ids=lambda j: j.id)
def test_a_journey_survives_its_document(journey):
    assert journey_of(journey_document(journey), journey.version) == journey


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"stages": []}, "journey.id is required"),
        ({"id": "j", "stages": "x"}, "journey.stages must be a list"),
        ({"id": "j", "stages": [{"name": "No key", "enteredBy": []}]}, r"stages\[0\].key"),
        ({"id": "j", "stages": [{"key": "a", "enteredBy": [{"where": [{"op": "eq"}]}]}]},
         r"enteredBy\[0\].where\[0\].property"),
        ({"id": "j", "stages": [{"key": "a", "enteredBy": [{"channels": ["fax"]}]}]},
         "not channels"),
    ],
)  # fmt: skip
def test_a_malformed_definition_names_the_field_to_fix(document, message):
    with pytest.raises(DefinitionError, match=message):
        journey_of(document, 1)


def test_stored_versions_supersede_the_shipped_ones_and_others_join_them():
    v2 = journey_of({**journey_document(PURCHASE), "name": "Purchase v2"}, 2)
    own = journey_of({"id": "loyalty", "stages": [{"key": "joined", "enteredBy": [{}]}]}, 1)

    current = catalog_of(DEFAULT_CATALOG, [own, v2]).current()

    assert [(j.id, j.version) for j in current] == [("loyalty", 1), ("purchase", 2), ("service", 1)]


def test_a_trigger_rule_reads_from_its_document_and_describes_itself():
    created = datetime(2026, 1, 1, tzinfo=UTC)
    when = {"type": "inactive", "journeyId": "purchase", "stage": "consideration",
            "durationSeconds": 3600}  # fmt: skip

    rule = trigger_of({"id": "nudge", "when": when, "createdAt": created})

    assert rule.when == InactiveInStage("purchase", "consideration", timedelta(hours=1))
    assert rule.not_before == created
    assert describe(rule) == "inactive in stage purchase/consideration for 3600s"
    with pytest.raises(DefinitionError, match="enters_stage, friction or inactive"):
        trigger_of({"id": "x", "when": {"type": "sometimes"}})
