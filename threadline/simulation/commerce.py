"""Buying: web and app sessions, checkouts (completed or abandoned), till purchases."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from threadline.simulation.personas import new_uuid
from threadline.simulation.story import Payload, StoryBase, money

STORES = ("store-berlin-01", "store-london-02", "store-nyc-03", "store-tokyo-04", "store-sp-05")


class Commerce(StoryBase):
    def web_session(
        self, t: datetime, *, identified: bool, anonymous_id: str | None = None
    ) -> datetime:
        rng = self.rng
        t = self.daytime(t)
        device = anonymous_id or self.persona.web_anonymous_id
        who = self.who(identified=identified, anonymous_id=device)
        t = self.emit(
            t,
            {
                "type": "page",
                "name": "Home",
                **who,
                "properties": {"path": "/", "title": "Threadline Outdoor"},
                "context": self.web_context("/", "Threadline Outdoor"),
            },
        )
        cart: list[tuple[Payload, Decimal]] = []
        for _ in range(rng.randint(1, 5)):
            item, price = self.product()
            path = f"/products/{item['product_id']}"
            context = self.web_context(path, item["name"])
            t = self.emit(
                t,
                {
                    "type": "page",
                    "name": "Product",
                    **who,
                    "properties": {"path": path, "title": item["name"]},
                    "context": context,
                },
            )
            t = self.emit(
                t,
                {
                    "type": "track",
                    "event": "Product Viewed",
                    **who,
                    "properties": dict(item),
                    "context": context,
                },
            )
            if identified and rng.random() < 0.12:
                t = self.wishlist(t, who, item, context)
            elif rng.random() < 0.35:
                t = self.emit(
                    t,
                    {
                        "type": "track",
                        "event": "Product Added",
                        **who,
                        "properties": {**item, "quantity": 1},
                        "context": context,
                    },
                )
                cart.append((item, price))
        if cart and identified and rng.random() < 0.75:
            t = self.checkout(t, who, cart, self.web_context("/checkout", "Checkout"))
        return t

    def wishlist(self, t: datetime, who: Payload, item: Payload, context: Payload) -> datetime:
        return self.emit(
            t,
            {
                "type": "track",
                "event": "Product Added to Wishlist",
                **who,
                "properties": {**item, "wishlist_id": f"wl-{self.persona.user_id[-8:]}"},
                "context": context,
            },
        )

    def checkout(
        self, t: datetime, who: Payload, cart: list[tuple[Payload, Decimal]], context: Payload
    ) -> datetime:
        """Checkout Started, then an order — or an abandoned cart."""
        currency = self.persona.country.currency
        subtotal = sum((price for _, price in cart), Decimal(0))
        checkout_id = f"chk-{self.rng.getrandbits(40):010x}"
        products = [{**item, "quantity": 1} for item, _ in cart]
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "Checkout Started",
                **who,
                "properties": {
                    "checkout_id": checkout_id,
                    "value": money(subtotal, currency),
                    "currency": currency,
                    "products": products,
                },
                "context": context,
            },
        )
        if self.rng.random() < 0.12:
            # The card is declined; half of the people try again with another one.
            t = self.emit(
                t + timedelta(minutes=self.rng.uniform(1, 4)),
                {
                    "type": "track",
                    "event": "Payment Failed",
                    **who,
                    "properties": {
                        "checkout_id": checkout_id,
                        "reason": self.rng.choice(("card_declined", "3ds_failed", "timeout")),
                        "payment_method": self.rng.choice(("card", "paypal", "klarna")),
                    },
                    "context": context,
                },
            )
            if self.rng.random() < 0.5:
                return t
        if self.rng.random() > self.persona.shopper + 0.25:
            return t  # abandoned cart
        return self.order(
            t + timedelta(minutes=self.rng.uniform(1, 6)),
            who,
            subtotal,
            products,
            context,
            prefix="W",
            checkout_id=checkout_id,
        )

    def order(
        self,
        t: datetime,
        who: Payload,
        subtotal: Decimal,
        products: list[Payload],
        context: Payload,
        *,
        prefix: str,
        checkout_id: str | None = None,
    ) -> datetime:
        rng, currency = self.rng, self.persona.country.currency
        discount = subtotal * Decimal("0.1") if rng.random() < 0.2 else Decimal(0)
        revenue = subtotal - discount
        tax = revenue * Decimal("0.08")
        shipping = Decimal(0) if prefix == "S" else Decimal(str(self.persona.country.price_scale))
        self.orders += 1
        properties: Payload = {
            "order_id": f"{prefix}-{self.persona.user_id[-8:]}-{self.orders:03d}",
            "revenue": money(revenue, currency),
            "total": money(revenue + tax + shipping, currency),
            "tax": money(tax, currency),
            "shipping": money(shipping, currency),
            "discount": money(discount, currency),
            "currency": currency,
            "products": products,
        }
        if checkout_id:
            properties["checkout_id"] = checkout_id
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "Order Completed",
                **who,
                "properties": properties,
                "context": context,
            },
        )
        if prefix != "S":
            self.delivery(t, str(properties["order_id"]))
        # One order in eight goes wrong and turns into a support ticket.
        if rng.random() < 0.125 + 0.15 * (1 - self.persona.mood):
            channel = rng.choice(("email", "chat", "call_center"))
            t = self.support_ticket(t + timedelta(hours=rng.uniform(12, 96)), channel)
        return t

    def app_context(self) -> Payload:
        p = self.persona
        assert p.device_id is not None
        assert p.platform is not None
        ios = p.platform == "ios"
        return {
            "library": {
                "name": "analytics-ios" if ios else "analytics-android",
                "version": "4.1.8" if ios else "4.11.3",
            },
            "app": {"name": "Threadline Outdoor", "version": "3.12.0", "build": "3120"},
            "device": {
                "id": p.device_id,
                "type": p.platform,
                "manufacturer": "Apple" if ios else "Samsung",
                "model": "iPhone15,3" if ios else "SM-S918B",
            },
            "os": {"name": "iOS" if ios else "Android", "version": "18.1" if ios else "14"},
            "locale": p.country.locale,
            "network": {"wifi": self.rng.random() < 0.6},
        }

    def app_session(self, t: datetime) -> datetime:
        p, rng = self.persona, self.rng
        t = self.daytime(t)
        context = self.app_context()
        # The first time the app opens, the person browses anonymously, then signs in.
        signed_in = self.app_signed_in
        who = self.who(identified=signed_in, anonymous_id=p.device_id)
        t = self.emit(
            t, {"type": "screen", "name": "Home", **who, "properties": {}, "context": context}
        )
        cart: list[tuple[Payload, Decimal]] = []
        for step in range(rng.randint(1, 4)):
            if step == 1 and not signed_in:
                t = self.app_sign_in(t, context)
                who = self.who(identified=True, anonymous_id=p.device_id)
            item, price = self.product()
            t = self.emit(
                t,
                {
                    "type": "screen",
                    "name": "Product Detail",
                    **who,
                    "properties": {"product_id": item["product_id"]},
                    "context": context,
                },
            )
            t = self.emit(
                t,
                {
                    "type": "track",
                    "event": "Product Viewed",
                    **who,
                    "properties": dict(item),
                    "context": context,
                },
            )
            if rng.random() < 0.3:
                cart.append((item, price))
        if not self.app_signed_in:
            t = self.app_sign_in(t, context)
            who = self.who(identified=True, anonymous_id=p.device_id)
        if cart and rng.random() < 0.6:
            t = self.checkout(t, who, cart, context)
        return t

    def app_sign_in(self, t: datetime, context: Payload) -> datetime:
        """Signing in on the app links the device's anonymous id to the account."""
        self.app_signed_in = True
        p = self.persona
        return self.emit(
            t,
            {
                "type": "identify",
                "userId": p.user_id,
                "anonymousId": p.device_id,
                "traits": {"email": p.email},
                "context": context,
            },
        )

    def store_visit(self, t: datetime, *, buy: bool = True) -> datetime:
        """``Store Visited`` and perhaps a till purchase, in a fresh POS session: the till
        knows the loyalty card, or the email the customer gives for an e-receipt."""
        rng = self.rng
        t = self.daytime(t)
        store = rng.choice(STORES)
        context: Payload = {
            "channel": "store",
            "library": {"name": "threadline-pos", "version": "2.3.0"},
            "locale": self.persona.country.locale,
            "location": {"store_id": store},
        }
        if self.persona.loyalty_id:
            context["externalIds"] = [self.loyalty_ref()]
        if not self.persona.loyalty_id or rng.random() < 0.4:
            context["traits"] = {"email": self.persona.email}
        who: Payload = {"anonymousId": f"pos-{new_uuid(rng)}"}
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "Store Visited",
                **who,
                "properties": {"store_id": store, "visit_id": f"v-{rng.getrandbits(40):010x}"},
                "context": context,
            },
        )
        if rng.random() < 0.3:
            t = self.kiosk_session(t, store)
        if not buy:
            return t
        items = [self.product() for _ in range(rng.randint(1, 3))]
        subtotal = sum((price for _, price in items), Decimal(0))
        products = [{**item, "quantity": 1} for item, _ in items]
        return self.order(t, who, subtotal, products, context, prefix="S")
