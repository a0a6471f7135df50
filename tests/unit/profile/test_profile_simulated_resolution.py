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
from dataclasses import dataclass
from datetime import timedelta

import pytest

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.handlers import handle_ingested
from services.profile.ingest import ingest_event
from shared.bus.in_memory import InMemoryBus
from shared.events import CloudEvent, parse_time
from shared.normalize import Receipt, normalize
from threadline.simulation import Simulation, simulate

pytestmark = pytest.mark.slow  # a few thousand events through the handler

PERSONS = 60
SEED = 7


MERGED = "io.threadline.customer.merged"


@dataclass(frozen=True, slots=True)
class Resolved:
    simulation: Simulation
    customer_of: dict[str, str]
    """messageId → the customer its event was stored under."""
    channel_of: dict[str, str]
    """messageId → the event's channel."""
    published: list[CloudEvent]
    """What the handler published over the whole run."""


@pytest.fixture(scope="module")
def resolved_run() -> Resolved:
    simulation = simulate(PERSONS, SEED)
    store = InMemoryProfileStore()
    bus = InMemoryBus()
    ingest_ids: dict[str, str] = {}
    channel_of: dict[str, str] = {}
    events = []
    for payload in simulation.payloads:
        received = parse_time(payload["timestamp"]) + timedelta(seconds=1)
        event = ingest_event(normalize(payload, Receipt(received, "sim")), received, None)
        ingest_ids[payload["messageId"]] = event.id
        channel_of[payload["messageId"]] = str(event.data["channel"])
        events.append(event)

    async def run() -> None:
        for start in range(0, len(events), 200):
            batch = events[start : start + 200]
            await handle_ingested(batch, store=store, publisher=bus)

    asyncio.run(run())
    customer_of = {m: store.event_docs[i].customer_id for m, i in ingest_ids.items()}
    return Resolved(simulation, customer_of, channel_of, list(bus.published))


@pytest.fixture(scope="module")
def resolved(resolved_run: Resolved) -> tuple[Simulation, dict[str, str]]:
    """The simulation and, per messageId, the customer its event was stored under."""
    return resolved_run.simulation, resolved_run.customer_of


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


def test_people_seen_on_several_channels_end_as_one_customer_through_merges(
    resolved_run: Resolved,
) -> None:
    """The simulated identity overlap is resolved by merging, not only by linking: merges
    happen, and every person seen on several channels ends with one customer per account."""
    simulation = resolved_run.simulation
    merges = [e for e in resolved_run.published if e.type == MERGED]
    assert merges
    assert sum(len(e.data["mergedIds"]) for e in merges) > 0
    channels: dict[int, set[str]] = defaultdict(set)
    customers: dict[int, set[str]] = defaultdict(set)
    for message, customer in resolved_run.customer_of.items():
        person = simulation.person_of[message]
        channels[person].add(resolved_run.channel_of[message])
        customers[person].add(customer)
    overlapping = [person for person, seen in channels.items() if len(seen) > 1]
    assert overlapping
    for person in overlapping:
        accounts = 1 + (simulation.personas[person].second_account is not None)
        assert len(customers[person]) == accounts, (person, sorted(channels[person]))
