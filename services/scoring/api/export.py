"""``Customer.scoringExport``: the scoring service's part of a data-subject access report.

Needs ``admin`` and ``pii:read`` (as ``Customer.profileExport`` does). Every read is
recorded in the scoring's own PII audit log (:mod:`shared.pii_audit`) before it is
answered. The report holds the customer's KPI facts (orders, survey answers, ticket
steps, one per event), the stored metrics, the last announced side of each score
threshold and the scores as ``Customer.scores`` computes them now. The facts are
read whole (as ``scores`` reads them); a customer with more than
:data:`MAX_EXPORT_FACTS` is refused with an error that says so, never truncated.
Many customers in one request are read in one store call per part, never one per
customer.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from services.scoring.api.context import ADMIN, PII, ScoringInfo
from services.scoring.handlers.scores import customer_scores_of
from shared.events import utcnow
from shared.reports import json_ready
from shared.subgraph import require_scope

FIELD = "Customer.scoringExport"
MAX_EXPORT_FACTS = 10_000


async def scoring_export(info: ScoringInfo, customer_id: str) -> dict[str, Any]:
    """The customer's scoring report, JSON-ready."""
    context = info.context
    require_scope(context.principal, ADMIN)
    require_scope(context.principal, PII)
    await context.pii_reads.record(customer_id, FIELD)
    facts = await context.loaders.facts.load(customer_id)
    if len(facts) > MAX_EXPORT_FACTS:
        raise GraphQLError(
            f"scoringExport: customer {customer_id} has {len(facts)} KPI facts, more than the "
            f"{MAX_EXPORT_FACTS} one report carries; raise MAX_EXPORT_FACTS in "
            "services/scoring/api/export.py or export the kpi_facts of the customer from the "
            "scoring database",
            extensions={"code": "EXPORT_TOO_LARGE"},
        )
    metrics = await context.loaders.metrics.load(customer_id)
    states = await context.exports.states.load(customer_id)
    now = utcnow()
    scores = customer_scores_of(
        customer_id, facts, config=context.config, as_of=now, models=await context.loaders.models()
    )
    return {
        "generatedAt": json_ready(now),
        "customerId": customer_id,
        "kpiFacts": [json_ready(f) for f in facts],
        "metrics": json_ready(metrics),
        "thresholdStates": json_ready(states),
        "scores": json_ready(scores),
    }
