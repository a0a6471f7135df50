"""What simulated customers do, as Segment payloads: a pure function of (customers, seed, time).

Each customer draws from its own ``random.Random`` (seeded by the run's seed and
the customer's index), so customer 7 behaves the same in a run of 10 customers
and in a run of 1,000. Payloads carry ``timestamp`` only — no ``sentAt`` — so the
collector keeps the simulated event times instead of correcting them to now.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from shared.events import format_time
from threadline.simulation.care import Care
from threadline.simulation.commerce import Commerce
from threadline.simulation.personas import draw_persona
from threadline.simulation.story import Payload


def base_time_for_seed(seed: int) -> datetime:
    """A fixed 'now' per seed, so two runs with one seed send byte-identical payloads."""
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=seed % 365)


def generate(customers: int, seed: int, base_time: datetime | None = None) -> list[Payload]:
    """Every simulated event of ``customers`` customers, in time order across customers."""
    now = base_time or base_time_for_seed(seed)
    stamped: list[tuple[datetime, int, int, Payload]] = []
    for index in range(customers):
        rng = random.Random(f"threadline-simulation:{seed}:{index}")
        story = CustomerStory(draw_persona(rng, index), rng, now)
        story.live()
        # Whatever a story pushed past "now" has not happened yet.
        stamped.extend(
            (moment, index, seq, payload)
            for seq, (moment, payload) in enumerate(story.events)
            if moment < now
        )
    stamped.sort(key=lambda item: (item[0], item[1], item[2]))
    return [payload for _, _, _, payload in stamped]


class CustomerStory(Commerce, Care):
    """The plot: browse anonymously, sign up, then weeks of shopping and service."""

    def live(self) -> None:
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
        for moment in moments:
            self.activity(max(moment, t))
            t = max(t, self.events[-1][0])
        if will_call:
            self.call_center_contact(max(t, end - timedelta(days=rng.uniform(1, 6))))
        self.survey(max(self.events[-1][0], end - timedelta(hours=6)), "nps", "email")

    def activity(self, t: datetime) -> None:
        p, rng = self.persona, self.rng
        choices: list[tuple[str, float]] = [("web", 3.0), ("email", 2.0), ("chat", 0.5)]
        if p.device_id:
            choices.append(("app", 3.0))
        if p.loyalty_id:
            choices.append(("store", 1.2))
        choices.append(("consent", 0.15))
        kind = rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]
        if kind == "web":
            self.web_session(t, identified=True)
        elif kind == "app":
            self.app_session(t)
        elif kind == "store":
            self.store_visit(t)
        elif kind == "email":
            self.email_campaign(t)
        elif kind == "chat":
            self.chat(t)
        else:
            self.consent_update(t, marketing=rng.random() < 0.5)

    def sign_up(self, t: datetime) -> datetime:
        p = self.persona
        traits: Payload = {
            "email": p.email,
            "firstName": p.first_name,
            "lastName": p.last_name,
            "address": {"country": p.country.code},
            "createdAt": format_time(t),
        }
        if self.rng.random() < 0.5:
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
