"""Privacy rights through the profile's real processes: its worker (``run_worker``) on the
real bus and SecantusDB, its subgraph (``create_app``) under uvicorn, jobs requested and
followed through ``/graphql`` with signed tokens."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from gateway.federation_engine import FederationEngine
from gateway.http import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.profile import bootstrap as profile
from services.profile.adapters.mongo import INDEXES, MongoProfileStore
from services.profile.adapters.mongo_privacy import INDEXES as PRIVACY_INDEXES
from services.profile.adapters.mongo_privacy import MongoPrivacyStore
from services.profile.adapters.privacy_ports import ProfilePart
from services.profile.handlers import handle_ingested
from services.profile.privacy_jobs import PrivacyRuntime, request_job, run_job
from services.profile.screening import PrivacyGate
from shared.auth import issue_token
from shared.bus.rabbitmq import Bus
from shared.errors import StorageError
from shared.events import CloudEvent
from shared.mongo import AsyncDatabase, Document, Mongo
from shared.pii_audit import AUDIT_COLLECTION
from shared.settings import Settings
from tests.integration.collect.collect_wiring import Received, tap
from tests.integration.services.services_support import (
    JWT_SECRET,
    scratch_database,
    serving,
    slice_settings,
)
from tests.integration.services.test_services_slice import eventually, ingest, ready, running_slice
from tests.integration.services.test_services_slice import token as slice_token
from threadline.devinfra import free_port
from threadline.gatewayrun import compose_local

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BY_IDENTITY = """query($v: String!) { customerByIdentity(type: "userId", value: $v) {
  id traits identities { type value } } }"""
JOB = "query($id: ID!) { privacyJob(id: $id) { id kind status stepsDone error } }"
AUDIT = """{ piiAuditLog(first: 100) { entries { principal customerIds fields requestId } } }"""


def headers(
    *scopes: str, subject: str = "analyst", request_id: str | None = None
) -> dict[str, str]:
    found = {"authorization": f"Bearer {issue_token(JWT_SECRET, scopes, subject=subject)}"}
    if request_id is not None:
        found["x-request-id"] = request_id
    return found


def dropped(reason: str) -> float:
    value = REGISTRY.get_sample_value("threadline_profile_dropped_events_total", {"reason": reason})
    return value or 0.0


class Profile:
    """The running profile: ingest on the bus, ask its graph, read its database."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, bus: Bus, database: AsyncDatabase[Document]
    ) -> None:
        self.http = http
        self.url = url
        self.bus = bus
        self.database = database

    async def graph(
        self, query: str, scope_headers: dict[str, str], **variables: Any
    ) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers=scope_headers,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def send(self, *events: CloudEvent) -> None:
        await self.bus.publish(list(events))

    async def customer(self, user_id: str) -> dict[str, Any] | None:
        data = await self.graph(BY_IDENTITY, headers("customers:read"), v=user_id)
        found: dict[str, Any] | None = data["customerByIdentity"]
        return found

    async def stored_events(self, customer_id: str) -> list[Document]:
        return await self.database["events"].find({"customerId": customer_id}).to_list()

    async def job_done(self, mutation: str, customer_id: str) -> dict[str, Any]:
        requested = await self.graph(
            f"mutation($id: ID!) {{ {mutation}(id: $id) {{ id status }} }}",
            headers("admin", subject="dpo"),
            id=customer_id,
        )
        job_id = requested[mutation]["id"]

        async def finished() -> dict[str, Any] | None:
            job = (await self.graph(JOB, headers("admin"), id=job_id))["privacyJob"]
            return job if job["status"] in ("done", "failed") else None

        job: dict[str, Any] = await eventually(finished, f"{mutation} job {job_id}")
        assert job["status"] == "done", job
        return job


@contextlib.asynccontextmanager
async def running_profile(settings: Settings) -> AsyncIterator[Profile]:
    stop = asyncio.Event()
    worker = asyncio.create_task(profile.run_worker(settings, stop))
    bus = mongo = None
    try:
        async with (
            serving(profile.create_app(settings), settings.profile_port) as url,
            httpx.AsyncClient(timeout=10.0) as http,
        ):
            worker_url = f"http://127.0.0.1:{settings.profile_port + 100}"
            await eventually(partial(ready, http, worker_url), "profile worker")
            await eventually(partial(ready, http, url), "profile api")
            bus = await Bus.connect(settings, source="threadline/test")
            mongo = Mongo(settings.mongodb_url)
            yield Profile(http, url, bus, mongo.database(settings.database_name("profile")))
    finally:
        if bus is not None:
            await bus.close()
        if mongo is not None:
            await mongo.close()
        stop.set()
        await worker


async def nothing_more(received: Received, customer_id: str, seconds: float = 1.0) -> None:
    """No further message about ``customer_id`` (other tests' workers share the exchange)."""
    await asyncio.sleep(seconds)
    while (message := await received.queue.get(fail=False, no_ack=True)) is not None:
        assert orjson.loads(message.body)["data"]["customerId"] != customer_id


def identify(user: str, email: str, **extra: Any) -> CloudEvent:
    return ingest(
        "identify",
        userId=user,
        anonymousId=f"anon-{user}",
        traits={"email": email, "firstName": "Jo", "plan": "pro"},
        timestamp="2026-03-01T10:00:00Z",
        **extra,
    )


async def test_a_deleted_customers_ids_do_not_bring_the_person_back(infra):
    settings = slice_settings(infra)
    user, email = f"user-{uuid.uuid4().hex[:8]}", f"{uuid.uuid4().hex[:8]}@example.com"
    async with tap(settings, "customer.erased") as erased, running_profile(settings) as app:
        await app.send(identify(user, email, context={"ip": "203.0.113.7"}))
        customer = await eventually(partial(app.customer, user), "the customer")
        customer_id = customer["id"]
        [stored] = await app.stored_events(customer_id)
        assert "ip" not in stored["data"]["context"]
        assert "email" not in stored["data"]["traits"]

        job = await app.job_done("deleteCustomer", customer_id)

        assert job["stepsDone"][-1] == "publish_erased"
        assert await app.customer(user) is None
        assert await app.stored_events(customer_id) == []
        assert await app.database["identities"].count_documents({"customerId": customer_id}) == 0
        announced = await _erased(erased, customer_id)
        assert announced["data"]["erasedIds"] == [customer_id]
        assert announced["data"]["jobId"] == job["id"]

        before = dropped("erased")
        await app.send(identify(user, email))
        await eventually(lambda: _above(dropped("erased"), before), "the dropped count")

        assert await app.customer(user) is None
        assert await app.database["customers"].count_documents({"_id": customer_id}) == 0
        await nothing_more(erased, customer_id)


async def _erased(received: Received, customer_id: str) -> dict[str, Any]:
    """The first customer.erased about ``customer_id`` (others' may come first)."""
    while True:
        [body] = await received.bodies(1)
        if body["data"]["customerId"] == customer_id:
            return body


async def _above(value: float, floor: float) -> bool:
    return value > floor


async def test_suppression_drops_events_until_lifted_and_clear_reads_are_audited(infra):
    settings = slice_settings(infra)
    user = f"user-{uuid.uuid4().hex[:8]}"
    async with running_profile(settings) as app:
        await app.send(identify(user, f"{uuid.uuid4().hex[:8]}@example.com"))
        customer_id = (await eventually(partial(app.customer, user), "the customer"))["id"]

        masked = await app.graph(BY_IDENTITY, headers("customers:read"), v=user)
        assert masked["customerByIdentity"]["traits"]["firstName"] == "J***"
        assert not await _audited(app, customer_id)
        clear = await app.graph(
            BY_IDENTITY, headers("customers:read", "pii:read", request_id=f"r-{user}"), v=user
        )
        assert clear["customerByIdentity"]["traits"]["firstName"] == "Jo"
        [entry] = await _audited(app, customer_id)
        assert entry["principal"] == "analyst"
        assert entry["fields"] == ["Customer.identities", "Customer.traits"]
        assert entry["requestId"] == f"r-{user}"

        await app.job_done("suppressCustomer", customer_id)
        before = dropped("suppressed")
        await app.send(
            ingest("track", userId=user, event="Viewed", timestamp="2026-03-01T11:00:00Z")
        )
        await eventually(lambda: _above(dropped("suppressed"), before), "the dropped count")
        assert len(await app.stored_events(customer_id)) == 1

        await app.job_done("unsuppressCustomer", customer_id)
        await app.send(
            ingest("track", userId=user, event="Viewed", timestamp="2026-03-01T12:00:00Z")
        )

        async def resumed() -> bool:
            return len(await app.stored_events(customer_id)) == 2

        await eventually(resumed, "the event after unsuppression")
        assert dropped("suppressed") == before + 1


async def _audited(app: Profile, customer_id: str) -> list[dict[str, Any]]:
    entries = (await app.graph(AUDIT, headers("admin")))["piiAuditLog"]["entries"]
    return [entry for entry in entries if customer_id in entry["customerIds"]]


class CrashOnce:
    """The real privacy store, except that one erasure fails once, as a crash would."""

    def __init__(self, inner: MongoPrivacyStore, part: ProfilePart) -> None:
        self._inner = inner
        self._part = part
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def erase(self, part: ProfilePart, customer_ids: Sequence[str]) -> int:
        if part == self._part and not self.crashed:
            self.crashed = True
            raise StorageError("erasing customers' identities failed: connection reset")
        return await self._inner.erase(part, customer_ids)


async def test_a_delete_job_interrupted_between_steps_resumes_to_completion(infra):
    settings = slice_settings(infra)
    async with (
        scratch_database(infra.mongodb_url, (*INDEXES, *PRIVACY_INDEXES)) as database,
        tap(settings, "customer.erased") as erased,
    ):
        bus = await Bus.connect(settings, source="threadline/test")
        try:
            store, privacy = MongoProfileStore(database), MongoPrivacyStore(database)
            user = f"user-{uuid.uuid4().hex[:8]}"
            await handle_ingested(
                [identify(user, "jo@example.com")],
                store=store,
                publisher=bus,
                gate=PrivacyGate(privacy, "salt"),
            )
            [customer] = await database["customers"].find().to_list()
            runtime = PrivacyRuntime(store, CrashOnce(privacy, "identities"), bus, "salt")
            job = await request_job(runtime, "delete", str(customer["_id"]), "dpo")

            with pytest.raises(StorageError):
                await run_job(runtime, job.id)
            halfway = await privacy.job(job.id)
            assert halfway is not None
            assert halfway.status == "running"
            assert halfway.steps_done == (
                "capture",
                "tombstone",
                "delete_quarantined",
                "delete_events",
            )

            finished = await run_job(runtime, job.id)

            assert finished is not None
            assert finished.status == "done"
            assert await database["customers"].count_documents({}) == 0
            assert await database["identities"].count_documents({}) == 0
            assert await database["events"].count_documents({}) == 0
            announced = await _erased(erased, str(customer["_id"]))
            assert announced["data"]["jobId"] == job.id
            await nothing_more(erased, str(customer["_id"]))
        finally:
            await bus.close()


async def test_the_gateway_serves_the_report_and_the_privacy_mutations(infra):
    settings = slice_settings(infra)
    user = f"user-{uuid.uuid4().hex[:8]}"
    trace = uuid.uuid4().hex
    admin = {
        "authorization": f"Bearer {issue_token(JWT_SECRET, ['admin'], subject='dpo')}",
        # One trace for the whole request: each subgraph's audit entry names its id.
        "traceparent": f"00-{trace}-{uuid.uuid4().hex[:16]}-01",
    }
    async with running_slice(settings) as (graph, bus):
        await bus.publish([identify(user, f"{uuid.uuid4().hex[:8]}@example.com")])
        found = await eventually(
            partial(_by_user, graph, user), "the customer in the profile subgraph"
        )
        await eventually(partial(_reached, graph, found), "the event in journey and scoring")
        urls = {name: f"{url}/graphql" for name, url in graph.urls.items()}
        supergraph = await compose_local(urls, slice_token("customers:read"), wait_seconds=10)
        engine = FederationEngine(supergraph, urls)
        gateway = create_gateway(engine, GatewaySettings(jwt_secret=JWT_SECRET))
        async with contextlib.AsyncExitStack() as cleanup:
            cleanup.push_async_callback(engine.aclose)
            gateway_url = await cleanup.enter_async_context(serving(gateway, free_port()))

            async def through_gateway(query: str, **variables: Any) -> dict[str, Any]:
                response = await graph.http.post(
                    f"{gateway_url}/graphql",
                    json={"query": query, "variables": variables},
                    headers=admin,
                )
                body: dict[str, Any] = response.json()
                assert "errors" not in body, body
                data: dict[str, Any] = body["data"]
                return data

            report = await through_gateway(
                "query($id: ID!) { customer(id: $id) { id profileExport journeyExport "
                "scoringExport } }",
                id=found,
            )
            requested = await through_gateway(
                "mutation($id: ID!) { deleteCustomer(id: $id) { id kind status } }", id=found
            )
            audit = await through_gateway(
                "{ piiAuditLog(first: 50) { entries { principal customerIds fields requestId } } }"
            )

            async def job_finished() -> str | None:
                job = await through_gateway(
                    "query($id: ID!) { privacyJob(id: $id) { status } }",
                    id=requested["deleteCustomer"]["id"],
                )
                status: str = job["privacyJob"]["status"]
                return status if status in ("done", "failed") else None

            # Left running, the job would finish in another test's worker (shared queues).
            assert await eventually(job_finished, "the delete job") == "done"
        own_logs = {
            name: await _own_audit(settings, name, found) for name in ("journey", "scoring")
        }

    export = report["customer"]["profileExport"]
    assert export["customer"]["traits"]["firstName"]["value"] == "Jo"
    assert {i["identity"]["type"] for i in export["identities"]} >= {"user_id", "email"}
    assert requested["deleteCustomer"]["kind"] == "delete"
    [entry] = [e for e in audit["piiAuditLog"]["entries"] if found in e["customerIds"]]
    assert entry["principal"] == "dpo"
    assert entry["fields"] == ["Customer.profileExport"]
    assert entry["requestId"] == trace  # the trace id the gateway propagated
    journey_part = report["customer"]["journeyExport"]
    assert journey_part["customerId"] == found
    assert [t["kind"] for t in journey_part["touchpoints"]] == ["identify"]
    assert journey_part["touchpointsPage"]["total"] == 1
    scoring_part = report["customer"]["scoringExport"]
    assert scoring_part["customerId"] == found
    assert sum(scoring_part["metrics"]["events_by_channel"].values()) == 1
    # Journey and scoring audit the same request in their own logs, under the same id.
    for name, entries in own_logs.items():
        field = f"Customer.{name}Export"
        assert [
            (e["principal"], e["customerIds"], e["fields"], e["requestId"]) for e in entries
        ] == [("dpo", [found], [field], entry["requestId"])], name


async def _reached(graph: Any, customer_id: str) -> bool | None:
    """Whether the identify reached the journey's timeline and the scoring's metrics."""
    entity = [{"__typename": "Customer", "id": customer_id}]
    reader = slice_token("customers:read")
    journey = await graph.query(
        "journey",
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer {"
        " timeline { totalCount } } } }",
        {"r": entity},
        reader,
    )
    scoring = await graph.query(
        "scoring",
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer {"
        " scores { eventsByChannel { count } } } } }",
        {"r": entity},
        reader,
    )
    seen = journey["_entities"][0]["timeline"]["totalCount"] == 1
    counted = scoring["_entities"][0]["scores"]["eventsByChannel"]
    return True if seen and counted else None


async def _own_audit(settings: Settings, service: str, customer_id: str) -> list[Document]:
    mongo = Mongo(settings.mongodb_url)
    try:
        audit = mongo.database(settings.database_name(service))[AUDIT_COLLECTION]
        return [doc async for doc in audit.find({"customerIds": customer_id})]
    finally:
        await mongo.close()


async def _by_user(graph: Any, user: str) -> str | None:
    data = await graph.query("profile", BY_IDENTITY, {"v": user}, slice_token("customers:read"))
    customer = data["customerByIdentity"]
    return str(customer["id"]) if customer else None
