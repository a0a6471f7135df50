"""The other channels: deliveries by a carrier (partner), SMS, social, store kiosks, a shared
tablet, and a second account opened by someone who forgot the first."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.events import format_time
from threadline.simulation.story import Payload, StoryBase

CARRIERS = ("dhl", "ups", "dpd", "yamato", "correios")
KIOSK_LIBRARY = {"name": "threadline-kiosk", "version": "1.4.2"}


def kiosk_id(store: str) -> str:
    """Every customer who signs in on a store's kiosk sends its one device id."""
    return f"kiosk-{store}"


class Reach(StoryBase):
    def delivery(self, ordered_at: datetime, order_id: str) -> None:
        """``Order Delivered`` from the carrier, with the promised and the actual date;
        unhappy customers' parcels are late more often (a broken promise)."""
        rng = self.rng
        promised = ordered_at + timedelta(days=rng.choice((2, 3, 3, 5)))
        late = rng.random() < 0.1 + 0.25 * (1 - self.persona.mood)
        delay = timedelta(days=rng.uniform(1, 4)) if late else -timedelta(hours=rng.uniform(0, 30))
        delivered = max(promised + delay, ordered_at + timedelta(hours=20))
        if delivered >= self.now:
            return
        self.emit_later(
            delivered,
            {
                "type": "track",
                "event": "Order Delivered",
                "userId": self.persona.user_id,
                "properties": {
                    "order_id": order_id,
                    "carrier": rng.choice(CARRIERS),
                    "promised_at": format_time(promised),
                    "delivered_at": format_time(delivered),
                },
                "context": self.server_context("partner", "threadline-carrier-bridge"),
            },
        )
        if rng.random() < 0.4:  # the delivery notice went out by SMS, and was tapped
            self.emit_later(
                delivered - timedelta(hours=rng.uniform(2, 6)),
                {
                    "type": "track",
                    "event": "SMS Link Clicked",
                    "userId": self.persona.user_id,
                    "properties": {"order_id": order_id, "message": "delivery_notice"},
                    "context": self.server_context("sms", "threadline-messaging"),
                },
            )

    def sms_campaign(self, t: datetime) -> datetime:
        t = self.daytime(t)
        campaign = self.rng.choice(("cmp-flash-sale", "cmp-loyalty-bonus"))
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "SMS Link Clicked",
                "userId": self.persona.user_id,
                "properties": {"campaign_id": campaign, "message": "campaign"},
                "context": self.server_context("sms", "threadline-messaging"),
            },
        )
        if self.rng.random() < 0.3:
            return self.survey(t + timedelta(hours=1), "nps", "sms")
        return self.web_session(t, identified=True)

    def social_click(self, t: datetime, *, identified: bool) -> datetime:
        """An ad clicked on social media; the pixel knows the browser's anonymous id."""
        t = self.daytime(t)
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "Social Ad Clicked",
                **self.who(identified=identified),
                "properties": {
                    "network": self.rng.choice(("instagram", "facebook", "tiktok")),
                    "campaign_id": "cmp-social-outdoor",
                },
                "context": {
                    **self.server_context("social", "threadline-social-bridge"),
                    "locale": self.persona.country.locale,
                },
            },
        )
        return self.web_session(t, identified=identified)

    def kiosk_session(self, t: datetime, store: str) -> datetime:
        """Signed in on the store's kiosk, shared by everyone who walks in."""
        who: Payload = {"userId": self.persona.user_id, "anonymousId": kiosk_id(store)}
        context: Payload = {
            "channel": "kiosk",
            "library": KIOSK_LIBRARY,
            "locale": self.persona.country.locale,
            "location": {"store_id": store},
        }
        for _ in range(self.rng.randint(1, 3)):
            item, _ = self.product()
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
            if self.rng.random() < 0.3:
                t = self.wishlist(t, who, item, context)
        return t

    def household_session(self, t: datetime) -> datetime:
        """Signed in on the tablet shared with another person: one anonymous id, two people."""
        assert self.household_device is not None
        return self.web_session(t, identified=True, anonymous_id=self.household_device)

    def second_sign_up(self, t: datetime) -> datetime:
        """A second account: new email and user id, the same name, phone and address."""
        p, second = self.persona, self.persona.second_account
        assert second is not None
        t = self.daytime(t)
        context = self.web_context("/account/signup", "Create your account")
        ids: Payload = {"userId": second.user_id, "anonymousId": second.anonymous_id}
        traits: Payload = {
            "email": second.email,
            "firstName": p.first_name,
            "lastName": p.last_name,
            "phone": p.phone_national,
            "address": dict(p.address),
            "createdAt": format_time(t),
        }
        t = self.emit(t, {"type": "identify", **ids, "traits": traits, "context": context})
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "Signed Up",
                **ids,
                "properties": {"method": "email"},
                "context": context,
            },
        )
        item, _ = self.product()
        path = f"/products/{item['product_id']}"
        return self.emit(
            t,
            {
                "type": "track",
                "event": "Product Viewed",
                **ids,
                "properties": dict(item),
                "context": self.web_context(path, item["name"]),
            },
        )
