"""The profile's identity resolution held against the simulator's ground truth.

The simulator knows which person sent every message (``threadline.simulation.
Simulation``); the handler only sees identifiers. Whatever the rules merge or
defer, a customer must never hold two people's touchpoints (shared tablets and
store kiosks carry one anonymous id for several people), and every person's
signed-in touchpoints must land on one customer per account.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

import pytest

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.handlers import handle_ingested
from services.profile.ingest import ingest_event
from shared.bus.in_memory import InMemoryBus
from shared.events import parse_time
from shared.normalize import Receipt, normalize
from threadline.simulation import Simulation, simulate

pytestmark = pytest.mark.slow  # a few thousand events through the handler

PERSONS = 60
SEED = 7


@pytest.fixture(scope="module")
def resolved() -> tuple[Simulation, dict[str, str]]:
    """The simulation and, per messageId, the customer its event was stored under."""
    simulation = simulate(PERSONS, SEED)
    store = InMemoryProfileStore()
    ingest_ids: dict[str, str] = {}
    events = []
    for payload in simulation.payloads:
        received = parse_time(payload["timestamp"]) + timedelta(seconds=1)
        event = ingest_event(normalize(payload, Receipt(received, "sim")), received, None)
        ingest_ids[payload["messageId"]] = event.id
        events.append(event)

    async def run() -> None:
        for start in range(0, len(events), 200):
            batch = events[start : start + 200]
            await handle_ingested(batch, store=store, publisher=InMemoryBus())

    asyncio.run(run())
    customer_of = {m: store.event_docs[i].customer_id for m, i in ingest_ids.items()}
    return simulation, customer_of


def test_no_customer_holds_two_peoples_touchpoints(
    resolved: tuple[Simulation, dict[str, str]],
) -> None:
    simulation, customer_of = resolved
    people: dict[str, set[int]] = defaultdict(set)
    for message, customer in customer_of.items():
        people[customer].add(simulation.person_of[message])
    mixed = {customer: persons for customer, persons in people.items() if len(persons) > 1}
    assert not mixed
    assert len(people) >= simulation.persons


def test_each_accounts_signed_in_touchpoints_land_on_one_customer(
    resolved: tuple[Simulation, dict[str, str]],
) -> None:
    simulation, customer_of = resolved
    by_user: dict[str, set[str]] = defaultdict(set)
    for payload in simulation.payloads:
        if payload.get("userId"):
            by_user[payload["userId"]].add(customer_of[payload["messageId"]])
    assert {user: customers for user, customers in by_user.items() if len(customers) > 1} == {}


def test_resolution_ends_with_one_customer_per_person_and_account(
    resolved: tuple[Simulation, dict[str, str]],
) -> None:
    simulation, customer_of = resolved
    assert len(set(customer_of.values())) == simulation.expected_customers
