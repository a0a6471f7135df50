"""The simulator's identity overlap and its ground truth, held against a reference resolver.

The reference (a union-find over the identities every event carries, in time
order) links what deterministic rules may link and refuses what they must not:
a link that would give one customer two user ids. If the simulator is right,
it ends with exactly one customer per person, plus one per second account; and
every shape of overlap the demo should show (shared devices, callers known by a
phone or a loyalty card, people who never sign in, anonymous → signed-in apps)
is there.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from services.profile.domain.identity import Identity, identities_of
from shared.events import parse_time
from shared.normalize import Receipt, normalize
from threadline.simulation import Simulation, base_time_for_seed, simulate

SEED = 7
PERSONS = 200
Payload = dict[str, Any]


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return simulate(PERSONS, SEED)


class ReferenceResolver:
    """Union-find over identities; never joins two different user ids."""

    def __init__(self) -> None:
        self.parent: dict[Identity, Identity] = {}
        self.user_ids: dict[Identity, set[str]] = {}

    def root(self, identity: Identity) -> Identity:
        if identity not in self.parent:
            self.parent[identity] = identity
            self.user_ids[identity] = {identity.value} if identity.type == "user_id" else set()
        while self.parent[identity] != identity:
            self.parent[identity] = self.parent[self.parent[identity]]
            identity = self.parent[identity]
        return identity

    def resolve(self, identities: tuple[Identity, ...]) -> Identity:
        """The customer (root) of an event; its other identities join unless forbidden."""
        strongest = self.root(identities[0])
        for identity in identities[1:]:
            other = self.root(identity)
            if other == strongest:
                continue
            if len(self.user_ids[strongest] | self.user_ids[other]) > 1:
                continue  # two user ids: the link is refused, the event resolves without it
            self.parent[other] = strongest
            self.user_ids[strongest] |= self.user_ids.pop(other)
        return self.root(identities[0])


def _resolved(simulation: Simulation) -> dict[str, Identity]:
    receipt = Receipt(received_at=base_time_for_seed(SEED), source="simulator")
    resolver = ReferenceResolver()
    customer_of: dict[str, Identity] = {}
    for payload in simulation.payloads:
        identities = identities_of(normalize(payload, receipt))
        customer_of[payload["messageId"]] = resolver.resolve(identities)
    return {message: resolver.root(root) for message, root in customer_of.items()}


def test_rules_that_never_merge_two_user_ids_find_one_customer_per_person(
    simulation: Simulation,
) -> None:
    customer_of = _resolved(simulation)
    persons_of: dict[Identity, set[int]] = defaultdict(set)
    customers_of: dict[int, set[Identity]] = defaultdict(set)
    for message, customer in customer_of.items():
        person = simulation.person_of[message]
        persons_of[customer].add(person)
        customers_of[person].add(customer)
    mixed = {c: p for c, p in persons_of.items() if len(p) > 1}
    assert not mixed, "a customer holds the touchpoints of several people"
    with_two_accounts = {p.index for p in simulation.personas if p.second_account}
    for person, customers in customers_of.items():
        assert len(customers) == (2 if person in with_two_accounts else 1), person
    assert len(persons_of) == simulation.expected_customers
    assert simulation.persons == PERSONS
    assert set(customers_of) == set(range(PERSONS))


def test_every_message_has_its_person(simulation: Simulation) -> None:
    assert set(simulation.person_of) == {p["messageId"] for p in simulation.payloads}
    for payload in simulation.payloads:
        persona = simulation.personas[simulation.person_of[payload["messageId"]]]
        user_id = payload.get("userId")
        second = persona.second_account
        assert user_id in (None, persona.user_id, second.user_id if second else None)


def test_two_people_sign_in_on_one_shared_tablet(simulation: Simulation) -> None:
    users_by_tablet: dict[str, set[str]] = defaultdict(set)
    for payload in simulation.payloads:
        anonymous_id = str(payload.get("anonymousId", ""))
        if anonymous_id.startswith("tablet-"):
            assert payload.get("userId"), "a shared tablet is only used signed in"
            users_by_tablet[anonymous_id].add(payload["userId"])
    shared = [users for users in users_by_tablet.values() if len(users) == 2]
    assert len(shared) >= 3
    assert all(len(users) <= 2 for users in users_by_tablet.values())


def test_store_kiosks_are_shared_by_everyone_who_signs_in_on_them(
    simulation: Simulation,
) -> None:
    users_by_kiosk: dict[str, set[str]] = defaultdict(set)
    for payload in simulation.payloads:
        if payload["context"].get("channel") == "kiosk":
            assert payload["anonymousId"].startswith("kiosk-store-")
            users_by_kiosk[payload["anonymousId"]].add(payload["userId"])
    assert max(len(users) for users in users_by_kiosk.values()) >= 3


def test_some_people_never_sign_in(simulation: Simulation) -> None:
    guests = [p for p in simulation.personas if not p.signs_in]
    assert 0.05 * PERSONS < len(guests) < 0.25 * PERSONS
    assert simulation.personas[0].signs_in, "persona 0 is the demo's example customer"
    for payload in simulation.payloads:
        if not simulation.personas[simulation.person_of[payload["messageId"]]].signs_in:
            assert "userId" not in payload
            assert "traits" not in payload
            assert "traits" not in payload["context"]


def test_callers_are_recognised_by_a_phone_or_card_on_file_or_their_email(
    simulation: Simulation,
) -> None:
    calls = [
        p
        for p in simulation.payloads
        if p["type"] == "identify" and p["context"].get("channel") == "call_center"
    ]
    how: Counter[str] = Counter()
    for call in calls:
        persona = simulation.personas[simulation.person_of[call["messageId"]]]
        assert "userId" not in call
        if "phone" in call["traits"]:
            assert persona.phone_on_file
            how["phone"] += 1
        elif call["context"].get("externalIds"):
            assert call["context"]["externalIds"][0]["id"] == persona.loyalty_id
            how["loyalty_id"] += 1
        else:
            assert call["traits"]["email"] == persona.email
            how["email"] += 1
    assert how["phone"] > 0
    assert how["loyalty_id"] > 0


def test_app_users_browse_anonymously_then_sign_in_on_the_device(simulation: Simulation) -> None:
    by_device: dict[str, list[Payload]] = defaultdict(list)
    for payload in simulation.payloads:
        by_device[str(payload.get("anonymousId"))].append(payload)
    for persona in simulation.personas:
        if not persona.device_id or not persona.signs_in:
            continue
        on_device = by_device[persona.device_id]
        if not on_device:
            continue  # the app was never opened in the simulated weeks
        first_signed = next(i for i, p in enumerate(on_device) if "userId" in p)
        assert on_device[first_signed]["type"] == "identify"
        assert all("userId" not in p for p in on_device[:first_signed])
        assert all(p.get("userId") == persona.user_id for p in on_device[first_signed:])


def test_second_accounts_repeat_name_phone_and_address_with_another_email(
    simulation: Simulation,
) -> None:
    pairs = simulation.duplicate_accounts()
    assert pairs
    sign_ups = {
        p["userId"]: p["traits"]
        for p in simulation.payloads
        if p["type"] == "identify" and p.get("traits", {}).get("createdAt")
    }
    for first, second in pairs:
        if second not in sign_ups:
            continue  # opened after the simulated weeks ended
        a, b = sign_ups[first], sign_ups[second]
        assert (a["firstName"], a["lastName"], a["address"]) == (
            b["firstName"],
            b["lastName"],
            b["address"],
        )
        assert a["email"].strip().lower() != b["email"]
        assert "phone" in b


def test_journey_events_arrive_on_every_channel(simulation: Simulation) -> None:
    receipt = Receipt(received_at=base_time_for_seed(SEED), source="simulator")
    channels = Counter(normalize(p, receipt)["channel"] for p in simulation.payloads)
    expected = {"web", "mobile_app", "store", "call_center", "email", "sms", "chat", "social",
                "kiosk", "partner"}  # fmt: skip
    assert expected <= set(channels)
    names = Counter(p.get("event") for p in simulation.payloads)
    for name in ("Product Viewed", "Product Added to Wishlist", "Store Visited",
                 "Checkout Started", "Payment Failed", "Order Completed", "Order Delivered",
                 "Support Ticket Opened", "Support Ticket Resolved", "Survey Answered",
                 "Consent Preference Updated"):  # fmt: skip
        assert names[name] > 0, name


def test_deliveries_carry_promised_and_actual_dates_and_some_are_late(
    simulation: Simulation,
) -> None:
    orders = {
        p["properties"]["order_id"]: parse_time(p["timestamp"])
        for p in simulation.payloads
        if p.get("event") == "Order Completed"
    }
    late = 0
    deliveries = [p for p in simulation.payloads if p.get("event") == "Order Delivered"]
    for delivery in deliveries:
        props = delivery["properties"]
        delivered = parse_time(props["delivered_at"])
        assert delivered == parse_time(delivery["timestamp"])
        assert delivered > orders[props["order_id"]]
        assert not props["order_id"].startswith("S-"), "store purchases go home with the buyer"
        late += delivered > parse_time(props["promised_at"])
    assert 0 < late < len(deliveries) / 2


def test_payment_failures_belong_to_a_started_checkout(simulation: Simulation) -> None:
    started = {
        p["properties"]["checkout_id"]
        for p in simulation.payloads
        if p.get("event") == "Checkout Started"
    }
    failed = [p for p in simulation.payloads if p.get("event") == "Payment Failed"]
    assert failed
    assert {p["properties"]["checkout_id"] for p in failed} <= started
