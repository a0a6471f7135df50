"""Privacy rules and jobs over the in-memory stores: screening, stored form, suppress,
delete (resumable), anonymize, export."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.in_memory_privacy import InMemoryPrivacyStore
from services.profile.adapters.ports import QuarantinedEvent
from services.profile.adapters.privacy_ports import ProfilePart
from services.profile.domain.identity import Identity
from services.profile.domain.pii import PiiPolicy
from services.profile.domain.privacy import (
    STEPS,
    Admitted,
    Block,
    Dropped,
    JobKind,
    PrivacyJob,
    identity_hash,
    screen,
    stored_form,
)
from services.profile.handlers import handle_ingested
from services.profile.privacy_jobs import PrivacyRuntime, request_job, run_job
from services.profile.screening import PrivacyGate
from shared.bus.in_memory import InMemoryBus
from shared.errors import BusError, ConfigurationError, StorageError
from shared.events import CloudEvent
from shared.settings import Settings
from tests.unit.profile.profile_events import at, segment

SALT = "unit-test-salt"
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


class Profile:
    """The profile worker's stores, gate and job runtime, all in memory."""

    def __init__(self, pii: PiiPolicy | None = None) -> None:
        self.store = InMemoryProfileStore()
        self.privacy = InMemoryPrivacyStore(self.store)
        self.bus = InMemoryBus()
        self.pii = pii or PiiPolicy()
        self.gate = PrivacyGate(self.privacy, SALT, self.pii)
        self.runtime = PrivacyRuntime(
            self.store, self.privacy, self.bus, SALT, self.pii, clock=lambda: NOW
        )

    async def ingest(self, *events: CloudEvent) -> None:
        await handle_ingested(events, store=self.store, publisher=self.bus, gate=self.gate)

    async def job(self, kind: JobKind, customer_id: str) -> PrivacyJob | None:
        job = await request_job(self.runtime, kind, customer_id, "admin-1")
        return await run_job(self.runtime, job.id)

    def published(self, type_suffix: str) -> list[CloudEvent]:
        return [e for e in self.bus.published if e.type == "io.threadline." + type_suffix]


def dropped(reason: str) -> float:
    value = REGISTRY.get_sample_value("threadline_profile_dropped_events_total", {"reason": reason})
    return value or 0.0


def identify(message_id: str, hour: int = 10, **fields):
    values = {
        "userId": "user-1",
        "anonymousId": "anon-1",
        "traits": {"email": "jo@example.com", "firstName": "Jo", "plan": "pro"},
        "timestamp": at(hour),
        **fields,
    }
    return segment("identify", message_id, **values)


# -- screening ----------------------------------------------------------------------------

IDENTITIES = st.lists(
    st.builds(
        Identity,
        st.sampled_from(["user_id", "email", "phone", "loyalty_id", "anonymous_id"]),
        st.sampled_from(["a", "b"]),
    ),
    min_size=1,
    max_size=5,
    unique=True,
)


@given(IDENTITIES, st.data())
def test_screening_agrees_with_a_brute_force_reading_of_the_rules(identities, data):
    states: list[Block | None] = [
        data.draw(st.sampled_from([None, "suppressed", "erased"])) for _ in identities
    ]
    hashes = {identity: identity_hash(SALT, identity) for identity in identities}
    blocks = {hashes[i]: s for i, s in zip(identities, states, strict=True) if s is not None}

    decision = screen(identities, hashes, blocks)

    # The oracle: the rules as written, by enumeration.
    if any(s == "suppressed" for s in states):
        assert decision == Dropped("suppressed")
        return
    erased = [i for i, s in zip(identities, states, strict=True) if s == "erased"]
    strongest = sorted(identities, key=lambda i: (i.rank, i))[0]
    if strongest in erased or len(erased) == len(identities):
        assert decision == Dropped("erased")
    else:
        assert decision == Admitted(tuple(i for i in identities if i not in erased), tuple(erased))


def test_identity_hashes_depend_on_the_salt_and_hide_the_value():
    email = Identity("email", "jo@example.com")
    assert identity_hash(SALT, email) == identity_hash(SALT, email)
    assert identity_hash(SALT, email) != identity_hash("other-salt", email)
    assert "jo" not in identity_hash(SALT, email)


# -- stored form --------------------------------------------------------------------------


def test_stored_events_keep_no_ip_user_agent_precise_location_or_pii_traits():
    data: dict[str, Any] = {
        "type": "identify",
        "userId": "user-1",
        "traits": {
            "email": "jo@example.com",
            "plan": "pro",
            "loyaltyTier": "gold",
            "prefs": {"homeAddress": "1 Main St", "theme": "dark"},
            "note": "call +49 30 1234567",
        },
        "context": {
            "ip": "203.0.113.9",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
            "location": {"country": "DE", "city": "Berlin", "latitude": 52.5},
            "device": {"type": "ios", "advertisingId": "ad-1", "id": "dev-1"},
            "library": {"name": "analytics.js"},
            "traits": {"phone": "+4930123456", "segment": "b2b"},
            "channel": "web",
        },
        "properties": {"total": 10},
    }

    stored = stored_form(data, PiiPolicy.of(["loyaltyTier"]))

    context = stored["context"]
    assert "ip" not in context
    assert "userAgent" not in context
    assert "location" not in context
    assert context["country"] == "DE"
    assert context["device"] == {"type": "ios"}
    assert context["library"] == {"name": "analytics.js"}
    assert context["traits"] == {"segment": "b2b"}
    assert stored["traits"] == {"plan": "pro", "prefs": {"theme": "dark"}}
    assert stored["userId"] == "user-1"
    assert stored["properties"] == {"total": 10}
    assert data["context"]["ip"] == "203.0.113.9"  # the input is left as it was


async def test_the_worker_stores_events_without_ip_but_resolves_and_publishes_them_whole():
    profile = Profile()
    event = identify("m1", context={"ip": "203.0.113.9", "location": {"country": "FR"}})

    await profile.ingest(event)

    [stored] = profile.store.event_docs.values()
    assert "ip" not in stored.data["context"]
    assert stored.data["context"]["country"] == "FR"
    assert "email" not in stored.data["traits"]
    [customer] = profile.store.customer_docs.values()
    assert customer.traits["email"].value == "jo@example.com"
    [resolved] = profile.published("customer.event.identify")
    assert resolved.data["traits"]["email"] == "jo@example.com"


# -- suppression --------------------------------------------------------------------------


async def test_suppression_drops_events_until_unsuppressed():
    profile = Profile()
    await profile.ingest(identify("m1", hour=10))
    [customer_id] = profile.store.customer_docs
    before = dropped("suppressed")

    job = await profile.job("suppress", customer_id)
    await profile.ingest(segment("track", "m2", userId="user-1", event="Viewed", timestamp=at(11)))
    await profile.ingest(segment("page", "m3", anonymousId="anon-1", timestamp=at(11)))

    assert job is not None
    assert job.status == "done"
    assert dropped("suppressed") == before + 2
    assert set(profile.store.event_docs) == {identify("m1").id}
    assert profile.store.customer_docs[customer_id].last_seen == datetime(
        2026, 3, 1, 10, tzinfo=UTC
    )

    await profile.job("unsuppress", customer_id)
    resumed = segment("track", "m4", userId="user-1", event="Viewed", timestamp=at(12))
    await profile.ingest(resumed)

    assert profile.store.event_docs[resumed.id].customer_id == customer_id
    assert dropped("suppressed") == before + 2


# -- delete -------------------------------------------------------------------------------


async def test_a_deleted_customers_identifiers_do_not_bring_the_person_back():
    profile = Profile()
    await profile.ingest(identify("m1"))
    [customer_id] = profile.store.customer_docs
    before = dropped("erased")

    job = await profile.job("delete", customer_id)

    assert job is not None
    assert job.status == "done"
    assert job.steps_done == STEPS["delete"]
    assert not profile.store.customer_docs
    assert not profile.store.identity_docs
    assert not profile.store.event_docs
    [erased] = profile.published("customer.erased")
    assert erased.data["customerId"] == customer_id
    assert erased.data["erasedIds"] == [customer_id]
    assert erased.data["jobId"] == job.id
    assert erased.partitionkey == erased.subject == customer_id
    # Tombstones keep no identifier in clear.
    assert not any("jo@example.com" in h for h in profile.privacy.block_docs)

    await profile.ingest(identify("m2", hour=12))
    await profile.ingest(segment("track", "m3", anonymousId="anon-1", event="X", timestamp=at(12)))

    assert not profile.store.customer_docs
    assert not profile.store.event_docs
    assert dropped("erased") == before + 2


async def test_deleting_a_merged_customer_erases_every_id_merged_into_it():
    profile = Profile()
    await profile.ingest(identify("m1"))
    known = set(profile.store.customer_docs)
    await profile.ingest(segment("track", "m2", anonymousId="anon-9", event="X", timestamp=at(9)))
    [anonymous_id] = set(profile.store.customer_docs) - known
    # The same person signs in on the second device: the two customers merge.
    await profile.ingest(identify("m3", hour=11, anonymousId="anon-9"))
    [merged] = profile.published("customer.merged")
    survivor = merged.data["customerId"]
    assert merged.data["mergedIds"] == [anonymous_id]

    await profile.job("delete", survivor)

    [erased] = profile.published("customer.erased")
    assert sorted(erased.data["erasedIds"]) == sorted([survivor, anonymous_id])
    assert not profile.store.customer_docs  # the merged-away document (old traits) too
    assert not profile.store.event_docs


async def test_an_erased_persons_old_device_signing_up_anew_links_only_the_new_identifiers():
    profile = Profile()
    await profile.ingest(identify("m1"))
    [erased_id] = profile.store.customer_docs
    await profile.job("delete", erased_id)

    await profile.ingest(
        identify("m2", hour=12, userId="user-2", traits={"plan": "basic"}, anonymousId="anon-1")
    )

    [customer_id] = profile.store.customer_docs
    assert customer_id != erased_id
    linked = {r.identity for r in await profile.store.identities(customer_id)}
    assert linked == {Identity("user_id", "user-2")}


class CrashOnce:
    """A privacy store whose ``erase`` of one part fails once, as a crashing worker would."""

    def __init__(self, inner: InMemoryPrivacyStore, part: ProfilePart) -> None:
        self._inner = inner
        self._part = part
        self.crashed = False

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def erase(self, part: ProfilePart, customer_ids: Sequence[str]) -> int:
        if part == self._part and not self.crashed:
            self.crashed = True
            raise StorageError("erasing customers' identities failed: connection reset")
        return await self._inner.erase(part, customer_ids)


async def test_a_delete_job_interrupted_between_steps_resumes_to_completion():
    profile = Profile()
    await profile.ingest(identify("m1"))
    [customer_id] = profile.store.customer_docs
    crashing = CrashOnce(profile.privacy, "identities")
    runtime = PrivacyRuntime(profile.store, crashing, profile.bus, SALT, clock=lambda: NOW)
    job = await request_job(runtime, "delete", customer_id, "admin-1")

    with pytest.raises(StorageError):
        await run_job(runtime, job.id)

    halfway = await profile.privacy.job(job.id)
    assert halfway is not None
    assert halfway.status == "running"
    assert halfway.steps_done == ("capture", "tombstone", "delete_quarantined", "delete_events")
    assert profile.store.identity_docs
    assert not profile.store.event_docs

    finished = await run_job(runtime, job.id)
    again = await run_job(runtime, job.id)

    assert finished is not None
    assert finished.status == "done"
    assert again == finished
    assert not profile.store.customer_docs
    assert not profile.store.identity_docs
    assert len(profile.published("customer.erased")) == 1


async def test_deleting_an_unknown_customer_fails_with_the_reason():
    profile = Profile()

    job = await profile.job("delete", "nobody")

    assert job is not None
    assert job.status == "failed"
    assert job.finished_at == NOW
    assert "customer nobody does not exist" in (job.error or "")
    assert not profile.published("customer.erased")


# -- anonymize and export -----------------------------------------------------------------


async def test_anonymize_removes_pii_traits_and_identifiers_but_keeps_history():
    profile = Profile(PiiPolicy.of(["loyaltyTier"]))
    await profile.ingest(
        identify(
            "m1",
            traits={
                "email": "jo@example.com",
                "firstName": "Jo",
                "plan": "pro",
                "loyaltyTier": "gold",
            },
        ),
        segment(
            "track",
            "m2",
            userId="user-1",
            event="Order Completed",
            timestamp=at(11),
            properties={
                "order_id": "o1",
                "revenue": 30,
                "currency": "EUR",
                "shippingAddress": "1 Main St",
            },
        ),
    )
    [customer_id] = profile.store.customer_docs

    job = await profile.job("anonymize", customer_id)

    assert job is not None
    assert job.status == "done"
    customer = profile.store.customer_docs[customer_id]
    assert set(customer.traits) == {"plan"}
    assert customer.channels
    assert customer.first_seen is not None
    assert not profile.store.identity_docs
    events = await profile.store.events(customer_id)
    assert [e.kind for e in events] == ["identify", "track"]
    order = events[1].data
    assert order["event"] == "order_completed"
    assert order["anonymized"] is True
    assert "userId" not in order
    assert "anonymousId" not in order
    assert "shippingAddress" not in order["properties"]
    assert order["properties"]["order_id"] == "o1"


async def test_export_job_reports_identities_traits_with_provenance_consents_and_events():
    profile = Profile()
    await profile.ingest(
        identify("m1", context={"consent": {"categoryPreferences": {"marketing": True}}})
    )
    [customer_id] = profile.store.customer_docs

    job = await profile.job("export", customer_id)

    assert job is not None
    assert job.status == "done"
    assert job.report is not None
    report = job.report
    identities = {(i["identity"]["type"], i["identity"]["value"]) for i in report["identities"]}
    assert ("email", "jo@example.com") in identities
    assert ("user_id", "user-1") in identities
    email = report["customer"]["traits"]["email"]
    assert email["value"] == "jo@example.com"
    assert email["updated_at"] == "2026-03-01T10:00:00.000Z"
    assert report["customer"]["consents"]
    assert [e["id"] for e in report["events"]] == [identify("m1").id]


# -- settings -----------------------------------------------------------------------------


def test_production_refuses_to_run_without_its_own_privacy_salt():
    with pytest.raises(ConfigurationError, match="THREADLINE_PRIVACY_SALT"):
        _ = Settings(environment="production").identifier_salt
    assert Settings(environment="production", privacy_salt="s3cret").identifier_salt == "s3cret"
    assert Settings().identifier_salt  # development works out of the box


def rejected(entry_id: str, payload: str) -> QuarantinedEvent:
    return QuarantinedEvent(entry_id, "src", payload, {"timestamp": "bad"}, NOW)


async def test_delete_also_erases_the_persons_rejected_raw_events_and_export_reports():
    profile = Profile()
    await profile.ingest(identify("m1", userId="1"))
    [customer_id] = profile.store.customer_docs
    await profile.privacy.quarantine.add(
        [
            rejected("q1", '{"userId": "1", "timestamp": "yesterday"}'),
            rejected("q2", '{"traits": {"email": "JO@example.com"}, "timestamp": "x"}'),
            rejected("q3", '{"userId": "21", "properties": {"qty": 1}, "timestamp": "x"}'),
        ]
    )
    export = await profile.job("export", customer_id)
    assert export is not None
    assert export.report is not None

    await profile.job("delete", customer_id)

    assert set(profile.privacy.quarantine.entries) == {"q3"}
    forgotten = await profile.privacy.job(export.id)
    assert forgotten is not None
    assert forgotten.report is None


async def test_a_job_the_broker_could_not_take_is_failed_with_the_reason():
    profile = Profile()
    await profile.ingest(identify("m1"))
    [customer_id] = profile.store.customer_docs
    profile.bus.broker_down = True

    with pytest.raises(BusError):
        await request_job(profile.runtime, "delete", customer_id, "admin-1")

    [job] = profile.privacy.job_docs.values()
    assert job.status == "failed"
    assert "request it again" in (job.error or "")
    assert customer_id in profile.store.customer_docs
