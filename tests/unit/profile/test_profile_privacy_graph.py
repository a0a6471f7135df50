"""The privacy surface of the profile subgraph: jobs, the PII audit log, profileExport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from services.profile.api.graph import ProfileContext, schema
from services.profile.api.graph_privacy import request_id_of
from services.profile.domain.identity import Identity
from services.profile.privacy_jobs import privacy_consumer
from shared.auth import Principal, TokenVerifier, issue_token
from shared.bus.in_memory import InMemoryInbox
from shared.errors import StorageError
from shared.subgraph import AuthenticatedGraphQL
from tests.unit.profile.profile_events import at, segment
from tests.unit.profile.test_profile_privacy import Profile

SECRET = "unit-secret-" + "y" * 32
CUSTOMER = """query($id: ID!) { customer(id: $id) { id traits identities { type value } } }"""
AUDIT = """query($first: Int!, $after: String) { piiAuditLog(first: $first, after: $after) {
  entries { id at principal customerIds fields requestId } endCursor hasNextPage } }"""
JOB = """query($id: ID!) { privacyJob(id: $id) { id kind customerId status stepsDone error
  createdAt finishedAt report } }"""


def bearer(*scopes: str, subject: str = "analyst-1", request_id: str = "req-1") -> dict[str, str]:
    token = issue_token(SECRET, scopes, subject=subject)
    return {"authorization": f"Bearer {token}", "x-request-id": request_id}


def app(profile: Profile) -> Starlette:
    async def context(request: Any, principal: Principal) -> ProfileContext:
        return ProfileContext(
            principal=principal,
            store=profile.store,
            pii=profile.pii,
            privacy=profile.runtime,
            request_id=request_id_of(request.headers),
        )

    graphql = AuthenticatedGraphQL(schema, verifier=TokenVerifier(secret=SECRET), context=context)
    return Starlette(routes=[Route("/graphql", graphql)])


@pytest.fixture
async def graph():
    profile = Profile()
    await profile.ingest(
        segment("identify", "m1", userId="user-1", timestamp=at(10),
                traits={"email": "jo@example.com", "address": {"street": "1 Main St"}}),
        segment("identify", "m2", userId="user-2", timestamp=at(10),
                traits={"email": "al@example.com"}),
    )  # fmt: skip
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app(profile)), base_url="http://profile"
    ) as client:

        async def post(query: str, headers: dict[str, str], **variables: Any) -> dict[str, Any]:
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        yield profile, post


def customer_ids(profile: Profile) -> list[str]:
    return sorted(profile.store.customer_docs)


async def jo(profile: Profile) -> str:
    """The customer of user-1 (jo@example.com, with an address)."""
    [record] = (await profile.store.known([Identity("user_id", "user-1")])).values()
    return record.customer_id


async def test_masked_reads_are_not_audited_and_clear_reads_are(graph):
    profile, post = graph
    first = await jo(profile)

    masked = await post(CUSTOMER, bearer("customers:read"), id=first)
    assert not profile.privacy.audit_docs
    assert masked["data"]["customer"]["traits"]["address"] == "***"

    clear = await post(CUSTOMER, bearer("customers:read", "pii:read", request_id="req-7"), id=first)

    assert clear["data"]["customer"]["traits"]["address"] == {"street": "1 Main St"}
    [entry] = profile.privacy.audit_docs.values()
    assert entry.principal == "analyst-1"
    assert entry.customer_ids == (first,)
    assert entry.fields == ("Customer.identities", "Customer.traits")
    assert entry.request_id == "req-7"


async def test_one_request_reading_many_customers_in_clear_is_one_audit_entry(graph):
    profile, post = graph
    ids = customer_ids(profile)
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
      ... on Customer { id traits } } }"""

    await post(
        query,
        bearer("customers:read", "pii:read"),
        r=[{"__typename": "Customer", "id": cid} for cid in ids],
    )

    [entry] = profile.privacy.audit_docs.values()
    assert list(entry.customer_ids) == ids
    assert entry.fields == ("Customer.traits",)


async def test_admins_page_through_the_audit_log_newest_first(graph):
    profile, post = graph
    [first, second] = customer_ids(profile)
    for n, cid in enumerate([first, second, first]):
        await post(CUSTOMER, bearer("customers:read", "pii:read", request_id=f"r{n}"), id=cid)

    page = (await post(AUDIT, bearer("admin"), first=2))["data"]["piiAuditLog"]
    rest = (await post(AUDIT, bearer("admin"), first=2, after=page["endCursor"]))["data"][
        "piiAuditLog"
    ]

    seen = [e["requestId"] for e in page["entries"] + rest["entries"]]
    assert sorted(seen) == ["r0", "r1", "r2"]
    assert page["hasNextPage"] is True
    assert rest["hasNextPage"] is False
    times = [e["at"] for e in page["entries"] + rest["entries"]]
    assert times == sorted(times, reverse=True)


async def test_audit_log_and_jobs_need_admin_and_bad_cursors_say_what_to_pass(graph):
    profile, post = graph
    first = await jo(profile)

    refused = await post(AUDIT, bearer("customers:read", "pii:read"), first=5)
    job = await post(
        "mutation($id: ID!) { deleteCustomer(id: $id) { id } }",
        bearer("customers:read", "pii:read"),
        id=first,
    )
    bad = await post(AUDIT, bearer("admin"), first=5, after="nonsense")

    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert job["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert not profile.privacy.job_docs
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "endCursor" in bad["errors"][0]["message"]


async def test_a_delete_job_requested_through_the_graph_runs_on_the_worker(graph):
    profile, post = graph
    [first, second] = customer_ids(profile)
    await profile.bus.start(privacy_consumer(profile.runtime), inbox=InMemoryInbox())

    requested = await post(
        "mutation($id: ID!) { deleteCustomer(id: $id) { id kind customerId status } }",
        bearer("admin", subject="dpo"),
        id=first,
    )
    job = requested["data"]["deleteCustomer"]
    assert (job["kind"], job["customerId"], job["status"]) == ("delete", first, "pending")

    await profile.bus.drain()

    done = (await post(JOB, bearer("admin"), id=job["id"]))["data"]["privacyJob"]
    assert done["status"] == "done"
    assert done["finishedAt"] is not None
    assert customer_ids(profile) == [second]
    [erased] = profile.published("customer.erased")
    assert erased.data["customerId"] == first
    listed = await post(
        "query($c: ID) { privacyJobs(customerId: $c) { id requestedBy } }", bearer("admin"), c=first
    )
    assert listed["data"]["privacyJobs"] == [{"id": job["id"], "requestedBy": "dpo"}]


async def test_jobs_for_unknown_customers_are_refused_with_the_reason(graph):
    _, post = graph

    answer = await post('mutation { exportCustomer(id: "nobody") { id } }', bearer("admin"))

    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "customer nobody does not exist" in answer["errors"][0]["message"]


async def test_profile_export_needs_admin_and_is_audited(graph):
    profile, post = graph
    first = await jo(profile)
    query = "query($id: ID!) { customer(id: $id) { profileExport } }"

    refused = await post(query, bearer("customers:read", "pii:read"), id=first)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert not profile.privacy.audit_docs

    answer = await post(query, bearer("admin", request_id="dsar-1"), id=first)

    report = answer["data"]["customer"]["profileExport"]
    assert report["customer"]["traits"]["email"]["value"] == "jo@example.com"
    assert report["events"][0]["data"]["userId"] == "user-1"
    [entry] = profile.privacy.audit_docs.values()
    assert entry.fields == ("Customer.profileExport",)
    assert entry.request_id == "dsar-1"


async def test_an_export_jobs_report_is_read_through_the_job_and_audited(graph):
    profile, post = graph
    first = await jo(profile)
    await profile.bus.start(privacy_consumer(profile.runtime), inbox=InMemoryInbox())
    job = (await post("mutation($id: ID!) { exportCustomer(id: $id) { id } }", bearer("admin"),
                      id=first))["data"]["exportCustomer"]  # fmt: skip
    await profile.bus.drain()

    done = (await post(JOB, bearer("admin"), id=job["id"]))["data"]["privacyJob"]

    assert done["status"] == "done"
    identities = done["report"]["identities"]
    assert {"type": "email", "value": "jo@example.com"} in [i["identity"] for i in identities]
    [entry] = profile.privacy.audit_docs.values()
    assert entry.fields == ("PrivacyJob.report",)
    assert entry.customer_ids == (first,)


async def test_a_clear_read_that_cannot_be_audited_is_not_answered(graph):
    profile, post = graph
    first = await jo(profile)

    async def audit_down(entry: Any) -> None:
        raise StorageError("writing the PII audit log failed: connection refused")

    profile.privacy.record_read = audit_down
    answer = await post(CUSTOMER, bearer("customers:read", "pii:read"), id=first)

    assert answer["data"]["customer"] is None
    assert {e["extensions"]["code"] for e in answer["errors"]} == {"STORAGE_UNAVAILABLE"}
    assert "jo@example.com" not in str(answer)


async def test_trait_provenance_in_clear_is_audited_and_masked_is_not(graph):
    profile, post = graph
    first = await jo(profile)
    query = "query($id: ID!) { customer(id: $id) { traitProvenance { name value } } }"

    masked = await post(query, bearer("customers:read"), id=first)
    assert "jo@example.com" not in str(masked)
    assert not profile.privacy.audit_docs

    clear = await post(query, bearer("customers:read", "pii:read", request_id="prov-1"), id=first)

    values = {t["name"]: t["value"] for t in clear["data"]["customer"]["traitProvenance"]}
    assert values["email"] == "jo@example.com"
    [entry] = profile.privacy.audit_docs.values()
    assert entry.customer_ids == (first,)
    assert entry.fields == ("Customer.traitProvenance",)
    assert entry.request_id == "prov-1"


async def merged_browsing(profile: Profile) -> None:
    """jo's anonymous browsing, then a login that merges it into jo: a merge log entry
    naming jo's email."""
    await profile.ingest(
        segment("page", "m3", anonymousId="anon-9", timestamp=at(11), name="Home"),
        segment("identify", "m4", anonymousId="anon-9", timestamp=at(12),
                traits={"email": "jo@example.com"}),
    )  # fmt: skip


async def test_merge_log_in_clear_is_audited_and_masked_is_not(graph):
    profile, post = graph
    first = await jo(profile)
    await merged_browsing(profile)
    query = "query($id: ID!) { customer(id: $id) { mergeLog { kind identities { value } } } }"

    masked = await post(query, bearer("customers:read"), id=first)
    assert masked["data"]["customer"]["mergeLog"], "the fixture's customer has a merge log"
    assert "jo@example.com" not in str(masked)
    assert not profile.privacy.audit_docs

    clear = await post(query, bearer("customers:read", "pii:read", request_id="log-1"), id=first)

    assert "jo@example.com" in str(clear["data"]["customer"]["mergeLog"])
    [entry] = profile.privacy.audit_docs.values()
    assert entry.customer_ids == (first,)
    assert entry.fields == ("Customer.mergeLog",)
    assert entry.request_id == "log-1"


async def test_provenance_and_merge_logs_of_many_customers_are_one_audit_entry(graph):
    profile, post = graph
    ids = customer_ids(profile)
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
      ... on Customer { id traitProvenance { value } mergeLog { kind } } } }"""

    await post(
        query,
        bearer("customers:read", "pii:read"),
        r=[{"__typename": "Customer", "id": cid} for cid in ids],
    )

    [entry] = profile.privacy.audit_docs.values()
    assert list(entry.customer_ids) == ids
    assert entry.fields == ("Customer.mergeLog", "Customer.traitProvenance")


async def test_a_merge_log_read_that_cannot_be_audited_is_not_answered(graph):
    profile, post = graph
    first = await jo(profile)
    await merged_browsing(profile)

    async def audit_down(entry: Any) -> None:
        raise StorageError("writing the PII audit log failed: connection refused")

    profile.privacy.record_read = audit_down
    query = """query($id: ID!) { customer(id: $id) { id traitProvenance { value }
      mergeLog { identities { value } } } }"""
    answer = await post(query, bearer("customers:read", "pii:read"), id=first)

    assert answer["data"]["customer"] is None
    assert "jo@example.com" not in str(answer)
