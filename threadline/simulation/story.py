"""The stage every simulated touchpoint is written on: time, identity, context, catalogue."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.events import format_time
from threadline.simulation.personas import Persona, new_uuid

Payload = dict[str, Any]

ZERO_DECIMAL_CURRENCIES = frozenset({"JPY"})

CATALOGUE: tuple[tuple[str, str, str, float], ...] = (
    # (sku, name, category, price relative to the country's typical item price)
    ("TL-1001", "Trail Running Shoes", "Shoes", 2.6),
    ("TL-1002", "Merino Wool Socks", "Accessories", 0.4),
    ("TL-1003", "Waterproof Shell Jacket", "Outerwear", 4.5),
    ("TL-1004", "Insulated Water Bottle", "Accessories", 0.6),
    ("TL-1005", "Daypack 22L", "Bags", 1.9),
    ("TL-1006", "Fleece Pullover", "Tops", 1.7),
    ("TL-1007", "Hiking Boots", "Shoes", 3.8),
    ("TL-1008", "Running Cap", "Accessories", 0.5),
    ("TL-1009", "Base Layer Tee", "Tops", 0.9),
    ("TL-1010", "Trekking Poles", "Gear", 1.6),
    ("TL-1011", "Headlamp 400lm", "Gear", 1.1),
    ("TL-1012", "Rain Pants", "Bottoms", 2.0),
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)


def money(amount: Decimal, currency: str) -> float:
    exponent = Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    return float(amount.quantize(exponent, rounding=ROUND_HALF_UP))


@dataclass
class StoryBase:
    """One customer's weeks of touchpoints, appended in time order to ``events``."""

    persona: Persona
    rng: random.Random
    now: datetime
    household_device: str | None = None
    """The anonymous id of a tablet this person shares with another (both sign in on it)."""
    events: list[tuple[datetime, Payload]] = field(default_factory=list)
    orders: int = 0
    tickets: int = 0
    app_signed_in: bool = False
    _later: list[tuple[datetime, Payload]] = field(default_factory=list)

    def emit(self, t: datetime, payload: Payload) -> datetime:
        payload["messageId"] = new_uuid(self.rng)
        payload["timestamp"] = format_time(t)
        self.events.append((t, payload))
        return t + timedelta(seconds=self.rng.uniform(4, 90))

    def emit_later(self, t: datetime, payload: Payload) -> None:
        """An event that happens days after the story's current moment (a delivery): it
        joins the story in time order when the story ends (:meth:`settle`)."""
        payload["messageId"] = new_uuid(self.rng)
        payload["timestamp"] = format_time(t)
        self._later.append((t, payload))

    def settle(self) -> None:
        """Merge the events emitted for later into the story, which stays in time order."""
        self.events.extend(self._later)
        self._later.clear()
        self.events.sort(key=lambda item: item[0])

    def who(self, *, identified: bool, anonymous_id: str | None = None) -> Payload:
        ids: Payload = {}
        if identified:
            ids["userId"] = self.persona.user_id
        if anonymous_id or not identified:
            ids["anonymousId"] = anonymous_id or self.persona.web_anonymous_id
        return ids

    def daytime(self, t: datetime) -> datetime:
        """Move ``t`` into the customer's waking hours (08:00-23:00 local time)."""
        offset = timedelta(hours=self.persona.country.utc_offset_hours)
        local = t + offset
        if 8 <= local.hour < 23:
            return t
        hour = self.rng.choice((9, 12, 13, 18, 19, 20, 21))
        local = local.replace(hour=hour, minute=self.rng.randrange(60))
        if local - offset < t:
            local += timedelta(days=1)
        return local - offset

    def web_context(self, path: str, title: str) -> Payload:
        return {
            "library": {"name": "analytics.js", "version": "next-1.74.0"},
            "locale": self.persona.country.locale,
            "userAgent": self.rng.choice(USER_AGENTS),
            "ip": f"203.0.113.{self.rng.randrange(1, 255)}",
            "page": {
                "path": path,
                "url": f"https://shop.example.com{path}",
                "title": title,
                "referrer": self.rng.choice(("https://www.google.com/", "", "https://t.co/x")),
            },
        }

    def product(self) -> tuple[Payload, Decimal]:
        sku, name, category, scale = self.rng.choice(CATALOGUE)
        country = self.persona.country
        price = Decimal(str(scale * country.price_scale)) * Decimal("0.99")
        value = money(price, country.currency)
        item = {
            "product_id": sku.lower(),
            "sku": sku,
            "name": name,
            "category": category,
            "price": value,
            "currency": country.currency,
        }
        return item, Decimal(str(value))

    def loyalty_ref(self) -> Payload:
        assert self.persona.loyalty_id is not None
        return {
            "id": self.persona.loyalty_id,
            "type": "loyalty_id",
            "collection": "users",
            "encoding": "none",
        }

    def server_context(self, channel: str, library: str = "analytics-node") -> Payload:
        """A server-side integration's context (helpdesk, messaging platform, carrier)."""
        return {"channel": channel, "library": {"name": library, "version": "2.1.2"}}

    # Channels call each other (an email click opens a web session, an order gone
    # wrong becomes a ticket); the channel classes provide these.
    def web_session(
        self, t: datetime, *, identified: bool, anonymous_id: str | None = None
    ) -> datetime:
        raise NotImplementedError

    def wishlist(self, t: datetime, who: Payload, item: Payload, context: Payload) -> datetime:
        raise NotImplementedError

    def support_ticket(self, t: datetime, channel: str, who: Payload | None = None) -> datetime:
        raise NotImplementedError

    def delivery(self, ordered_at: datetime, order_id: str) -> None:
        raise NotImplementedError

    def kiosk_session(self, t: datetime, store: str) -> datetime:
        raise NotImplementedError

    def survey(self, t: datetime, survey: str, channel: str) -> datetime:
        raise NotImplementedError
