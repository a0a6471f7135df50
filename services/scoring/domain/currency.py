"""Money kept per currency, converted to one reporting currency with configured rates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.scoring.domain import ScoringError


class MissingRateError(ScoringError):
    """An amount is in a currency the exchange rates do not cover."""


@dataclass(frozen=True, slots=True)
class ExchangeRates:
    """``rates[code]`` = units of ``reporting`` currency per one unit of ``code``."""

    reporting: str = "USD"
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for code, rate in self.rates.items():
            if not rate > 0:
                raise MissingRateError(
                    f"exchange rate for {code} is {rate}; rates must be positive "
                    f"({self.reporting} per 1 {code})"
                )

    def covers(self, currency: str) -> bool:
        return currency == self.reporting or currency in self.rates

    def rate(self, currency: str) -> Decimal:
        if currency == self.reporting:
            return Decimal(1)
        try:
            return self.rates[currency]
        except KeyError:
            raise MissingRateError(
                f"no exchange rate from {currency} to {self.reporting}; add {currency} to the "
                f"configured rates ({self.reporting} per 1 {currency}) or report in {currency}"
            ) from None

    def convert(self, amounts: Mapping[str, Decimal]) -> Decimal:
        """The sum of per-currency amounts in the reporting currency."""
        return sum(
            (amount * self.rate(code) for code, amount in sorted(amounts.items())), Decimal(0)
        )
