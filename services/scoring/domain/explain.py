"""Plain-language explanations of the computed metrics (only of what was computed).

Events per channel and the latest answers come from the stored projection
(``metrics.py``); orders and revenue from the KPI facts (``customer_orders.py``).
"""

from __future__ import annotations

from services.scoring.domain.customer_orders import OrderTotals
from services.scoring.domain.metrics import CustomerMetrics


def explanations(metrics: CustomerMetrics, orders: OrderTotals | None = None) -> list[str]:
    lines: list[str] = []
    if metrics.events:
        channels = ", ".join(
            f"{channel} {count}" for channel, count in sorted(metrics.events_by_channel.items())
        )
        lines.append(f"{metrics.events} events observed ({channels}).")
    if orders is not None and orders.orders:
        money = ", ".join(
            f"{amount} {currency}" for currency, amount in sorted(orders.revenue.items())
        )
        lines.append(
            f"{orders.orders} orders completed" + (f", revenue {money}." if money else ".")
        )
    for survey in ("nps", "csat", "ces"):
        answer = metrics.surveys.get(survey)
        if answer is not None:
            lines.append(
                f"Latest {survey.upper()} answer {answer.score} "
                f"given {answer.answered_at.date().isoformat()}."
            )
    return lines
