"""The gateway's document limits: the shared implementation (:mod:`shared.graphql_limits`),
configured by ``GatewaySettings`` and naming the gateway's settings in its refusals."""

from __future__ import annotations

from gateway.settings import GatewaySettings
from shared import graphql_limits
from shared.graphql_limits import OperationShape, select_operation

__all__ = ["DocumentLimits", "OperationShape", "select_operation"]


class DocumentLimits(graphql_limits.DocumentLimits):
    def __init__(self, settings: GatewaySettings) -> None:
        super().__init__(
            settings, where="gateway", introspection_switch="THREADLINE_GATEWAY_INTROSPECTION"
        )
