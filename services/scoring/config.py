"""The scoring service's settings as one typed value, read from ``Settings`` at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from services.scoring.domain import ScoringError
from services.scoring.domain.crossings import Threshold
from services.scoring.domain.currency import ExchangeRates
from shared.errors import ConfigurationError
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    rates: ExchangeRates = field(default_factory=ExchangeRates)
    thresholds: tuple[Threshold, ...] = (
        Threshold("churnRisk", 0.7, "below"),
        Threshold("nps", 6.0, "above"),
    )
    horizon_days: int = 365
    clv_refit_hours: float = 24.0
    snapshot_check_seconds: float = 600.0


def scoring_config(settings: Settings) -> ScoringConfig:
    rates: dict[str, Decimal] = {}
    for code, text in settings.scoring_exchange_rates:
        try:
            rates[code] = Decimal(text)
        except InvalidOperation:
            raise ConfigurationError(
                f"THREADLINE_SCORING_EXCHANGE_RATES: rate {text!r} for {code} is not a decimal; "
                "write e.g. EUR=1.08"
            ) from None
    try:
        exchange = ExchangeRates(settings.scoring_reporting_currency.upper(), rates)
    except ScoringError as exc:
        raise ConfigurationError(f"THREADLINE_SCORING_EXCHANGE_RATES: {exc}") from exc
    return ScoringConfig(
        rates=exchange,
        thresholds=(
            Threshold("churnRisk", settings.scoring_churn_risk_threshold, "below"),
            Threshold("nps", float(settings.scoring_nps_detractor_threshold), "above"),
        ),
        horizon_days=settings.scoring_clv_horizon_days,
        clv_refit_hours=settings.scoring_clv_refit_hours,
        snapshot_check_seconds=settings.scoring_snapshot_check_seconds,
    )
