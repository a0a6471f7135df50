"""The scoring subgraph's per-request context."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import GraphQLError
from strawberry.types import Info

from services.scoring.adapters.ports import KpiStore, MetricsStore, ModelStore
from services.scoring.api.export_loaders import ExportLoaders
from services.scoring.api.loaders import ScoringLoaders
from services.scoring.config import ScoringConfig
from services.scoring.domain import ScoringError
from shared.auth import Principal
from shared.pii_audit import PiiAuditSink, PiiReadRecorder

READ = "customers:read"
ADMIN = "admin"
PII = "pii:read"


@dataclass(frozen=True, slots=True)
class ScoringContext:
    """Per request: who asks, the stores to answer from, the configuration, the loaders;
    where reads of personal data in clear (``scoringExport``) are audited, and the request
    id they name."""

    principal: Principal
    store: MetricsStore
    kpis: KpiStore | None = None
    models: ModelStore | None = None
    config: ScoringConfig = field(default_factory=ScoringConfig)
    audit: PiiAuditSink | None = None
    request_id: str | None = None
    loaders: ScoringLoaders = field(init=False)
    pii_reads: PiiReadRecorder = field(init=False)
    exports: ExportLoaders = field(init=False)

    def __post_init__(self) -> None:
        # Built with the context, so once per request: batches and caches end with it.
        object.__setattr__(self, "loaders", ScoringLoaders(self.store, self.kpis, self.models))
        reads = PiiReadRecorder(self.audit, self.principal, self.request_id)
        object.__setattr__(self, "pii_reads", reads)
        object.__setattr__(self, "exports", ExportLoaders(self.models))


ScoringInfo = Info[ScoringContext, None]


def kpi_store(context: ScoringContext) -> KpiStore:
    if context.kpis is None:
        raise GraphQLError("this scoring process serves no KPI store; wire one in bootstrap")
    return context.kpis


def model_store(context: ScoringContext) -> ModelStore:
    if context.models is None:
        raise GraphQLError("this scoring process serves no model store; wire one in bootstrap")
    return context.models


def bad_input(exc: ScoringError | str) -> GraphQLError:
    return GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"})
