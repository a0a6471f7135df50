"""What simulated customers do, as Segment payloads: a pure function of (customers, seed, time).

Each customer draws from its own ``random.Random`` (seeded by the run's seed and
the customer's index), so customer 7 behaves the same in a run of 10 customers
and in a run of 1,000. Payloads carry ``timestamp`` only — no ``sentAt`` — so the
collector keeps the simulated event times instead of correcting them to now.

:func:`simulate` also returns the ground truth (which person sent each message),
so a test can hold identity resolution against it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.events import format_time
from threadline.simulation.care import Care
from threadline.simulation.commerce import Commerce
from threadline.simulation.personas import Persona, draw_persona, new_uuid
from threadline.simulation.reach import Reach
from threadline.simulation.story import Payload
from threadline.simulation.truth import Simulation

SHARED_TABLETS = 0.2
"""The share of neighbouring persona pairs (0-1, 2-3, …) who share a tablet."""


def base_time_for_seed(seed: int) -> datetime:
    """A fixed 'now' per seed, so two runs with one seed send byte-identical payloads."""
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=seed % 365)


def generate(customers: int, seed: int, base_time: datetime | None = None) -> list[Payload]:
    """Every simulated event of ``customers`` customers, in time order across customers."""
    return simulate(customers, seed, base_time).payloads


def simulate(customers: int, seed: int, base_time: datetime | None = None) -> Simulation:
    """The events of ``customers`` people in time order, with who sent which."""
    now = base_time or base_time_for_seed(seed)
    stamped: list[tuple[datetime, int, int, Payload]] = []
    personas: list[Persona] = []
    for index in range(customers):
        story = story_of(seed, index, now)
        story.live()
        personas.append(story.persona)
        # Whatever a story pushed past "now" has not happened yet.
        stamped.extend(
            (moment, index, seq, payload)
            for seq, (moment, payload) in enumerate(story.events)
            if moment < now
        )
    stamped.sort(key=lambda item: (item[0], item[1], item[2]))
    return Simulation(
        payloads=[payload for _, _, _, payload in stamped],
        personas=tuple(personas),
        person_of={str(payload["messageId"]): index for _, index, _, payload in stamped},
    )


def story_of(seed: int, index: int, now: datetime) -> CustomerStory:
    """Customer ``index``'s story, not yet lived."""
    rng = random.Random(f"threadline-simulation:{seed}:{index}")
    persona = draw_persona(rng, index)
    return CustomerStory(persona, rng, now, household_device=_tablet(seed, index, persona))


def _tablet(seed: int, index: int, persona: Persona) -> str | None:
    """The tablet personas ``2k`` and ``2k+1`` may share (decided by the pair, not by either)."""
    pair = random.Random(f"threadline-simulation:{seed}:household:{index // 2}")
    shared = pair.random() < SHARED_TABLETS
    return f"tablet-{new_uuid(pair)}" if shared and persona.signs_in else None


class CustomerStory(Commerce, Care, Reach):
    """The plot: browse anonymously, sign up, then weeks of shopping and service."""

    def live(self) -> None:
        if self.persona.signs_in:
            self._account_holder()
        else:
            self._guest()
        self.settle()

    def _guest(self) -> None:
        """Never signs in: anonymous web sessions, some reached through social ads."""
        rng, t = self.rng, self.now - self.persona.first_seen
        while t < self.now - timedelta(hours=1):
            if rng.random() < 0.25:
                t = self.social_click(t, identified=False)
            else:
                t = self.web_session(t, identified=False)
            t += timedelta(hours=rng.uniform(24, 240))

    def _account_holder(self) -> None:
        p, rng = self.persona, self.rng
        t = self.now - p.first_seen
        for _ in range(rng.randint(1, 3)):  # anonymous browsing before signing up
            t = self.web_session(t, identified=False)
            t += timedelta(hours=rng.uniform(5, 72))
        t = self.sign_up(t)
        t = self.consent_update(t + timedelta(minutes=2), marketing=rng.random() < 0.7)
        end = self.now - timedelta(hours=1)
        weeks = max((end - t).days / 7, 1.0)
        moments = sorted(
            t + (end - t) * rng.random() for _ in range(max(3, round(weeks * rng.uniform(2, 4))))
        )
        # Every customer with a phone on file calls at least once when the mood is low.
        will_call = rng.random() < 0.25 + 0.4 * (1 - p.mood)
        second_at = moments[len(moments) // 2] if p.second_account else None
        for moment in moments:
            if moment == second_at:
                self.second_sign_up(max(moment, t))
            else:
                self.activity(max(moment, t))
            t = max(t, self.events[-1][0])
        if will_call:
            self.call_center_contact(max(t, end - timedelta(days=rng.uniform(1, 6))))
        self.survey(max(self.events[-1][0], end - timedelta(hours=6)), "nps", "email")

    def activity(self, t: datetime) -> None:
        p, rng = self.persona, self.rng
        choices: list[tuple[str, float]] = [
            ("web", 3.0),
            ("email", 2.0),
            ("chat", 0.5),
            ("sms", 0.4),
            ("social", 0.4),
            ("store", 0.8 if p.loyalty_id else 0.4),
            ("consent", 0.15),
        ]
        if p.device_id:
            choices += [("app", 3.0), ("handoff", 0.3)]
        if self.household_device:
            choices.append(("tablet", 1.0))
        kind = rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]
        actions: dict[str, Callable[[datetime], datetime]] = {
            "web": lambda at: self.web_session(at, identified=True),
            "app": self.app_session,
            "handoff": self.handoff,
            "store": self.store_visit,
            "email": self.email_campaign,
            "chat": self.chat,
            "sms": self.sms_campaign,
            "social": lambda at: self.social_click(at, identified=True),
            "tablet": self.household_session,
            "consent": lambda at: self.consent_update(at, marketing=rng.random() < 0.5),
        }
        actions[kind](t)

    def handoff(self, t: datetime) -> datetime:
        """One journey over three channels: a wishlist on the web, a look at the product in
        a store, the purchase in the app."""
        rng = self.rng
        t = self.daytime(t)
        item, price = self.product()
        path = f"/products/{item['product_id']}"
        context = self.web_context(path, item["name"])
        who = self.who(identified=True, anonymous_id=self.persona.web_anonymous_id)
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
        t = self.wishlist(t, who, item, context)
        t = self.store_visit(t + timedelta(days=rng.uniform(1, 5)), buy=False)
        t = self.daytime(t + timedelta(hours=rng.uniform(2, 48)))
        app = self.app_context()
        if not self.app_signed_in:
            t = self.app_sign_in(t, app)
        app_who = self.who(identified=True, anonymous_id=self.persona.device_id)
        return self.checkout(t, app_who, [(item, price)], app)

    def sign_up(self, t: datetime) -> datetime:
        p = self.persona
        traits: Payload = {
            "email": p.email,
            "firstName": p.first_name,
            "lastName": p.last_name,
            "address": dict(p.address),
            "createdAt": format_time(t),
        }
        if p.phone_on_file:
            traits["phone"] = self.rng.choice((p.phone_national, p.phone_international))
        context = self.web_context("/account/signup", "Create your account")
        if p.loyalty_id:
            context["externalIds"] = [self.loyalty_ref()]
        t = self.emit(
            t,
            {
                "type": "identify",
                "userId": p.user_id,
                "anonymousId": p.web_anonymous_id,
                "traits": traits,
                "context": context,
            },
        )
        return self.emit(
            t,
            {
                "type": "track",
                "event": "Signed Up",
                "userId": p.user_id,
                "anonymousId": p.web_anonymous_id,
                "properties": {"method": "email"},
                "context": context,
            },
        )
