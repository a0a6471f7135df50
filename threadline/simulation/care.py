"""Being looked after: consent, email, chat, calls, support tickets and surveys."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from threadline.simulation.personas import new_uuid
from threadline.simulation.story import Payload, StoryBase

CAMPAIGNS = (
    ("cmp-spring-sale", "Spring sale: 20% off trail gear"),
    ("cmp-new-arrivals", "New arrivals for the season"),
    ("cmp-loyalty-bonus", "Double loyalty points this week"),
    ("cmp-winback", "We miss you: free shipping inside"),
)
TICKET_SUBJECTS = (
    "Where is my order?",
    "Wrong size delivered",
    "Refund not received",
    "Loyalty points missing",
    "Damaged item",
    "Cannot log in to the app",
)


class Care(StoryBase):
    def consent_update(self, t: datetime, *, marketing: bool) -> datetime:
        preferences = {
            "necessary": True,
            "analytics": self.rng.random() < 0.85,
            "marketing": marketing,
            "personalization": self.rng.random() < 0.7,
        }
        context = self.web_context("/account/privacy", "Privacy settings")
        context["consent"] = {"categoryPreferences": preferences}
        return self.emit(
            t,
            {
                "type": "track",
                "event": "Consent Preference Updated",
                **self.who(identified=True),
                "properties": {"preferences": preferences, "source": "preference_center"},
                "context": context,
            },
        )

    def email_campaign(self, t: datetime) -> datetime:
        rng = self.rng
        campaign_id, subject = rng.choice(CAMPAIGNS)
        context: Payload = {
            "channel": "email",
            "library": {"name": "analytics-node", "version": "2.1.2"},
        }
        properties = {
            "campaign_id": campaign_id,
            "email_subject": subject,
            "email_id": f"em-{rng.getrandbits(40):010x}",
        }
        if rng.random() > 0.55:
            return t  # delivered, never opened: no touchpoint
        t = self.emit(
            self.daytime(t),
            {
                "type": "track",
                "event": "Email Opened",
                **self.who(identified=True),
                "properties": properties,
                "context": context,
            },
        )
        if rng.random() < 0.35:
            t = self.emit(
                t,
                {
                    "type": "track",
                    "event": "Email Link Clicked",
                    **self.who(identified=True),
                    "properties": {**properties, "link_url": "https://shop.example.com/sale"},
                    "context": context,
                },
            )
            t = self.web_session(t, identified=True)
        return t

    def chat(self, t: datetime) -> datetime:
        t = self.daytime(t)
        context: Payload = {
            "channel": "chat",
            "library": {"name": "analytics-node", "version": "2.1.2"},
        }
        chat_id = f"chat-{self.rng.getrandbits(40):010x}"
        topic = self.rng.choice(("sizing", "delivery", "returns", "product question"))
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "Chat Started",
                **self.who(identified=True),
                "properties": {"chat_id": chat_id, "topic": topic},
                "context": context,
            },
        )
        t += timedelta(minutes=self.rng.uniform(3, 25))
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "Chat Ended",
                **self.who(identified=True),
                "properties": {"chat_id": chat_id, "topic": topic},
                "context": context,
            },
        )
        if self.rng.random() < 0.3:
            t = self.survey(t, "csat", "chat")
        return t

    def call_center_contact(self, t: datetime) -> datetime:
        """A call: the agent's system knows the caller by the number they call from when the
        account has it on file; otherwise the agent asks for the loyalty card, or the email."""
        p = self.persona
        t = self.daytime(t)
        who: Payload = {"anonymousId": f"call-{new_uuid(self.rng)}"}
        context: Payload = {
            "channel": "call_center",
            "locale": p.country.locale,
            "library": {"name": "analytics-python", "version": "2.3.3"},
        }
        traits: Payload = {"address": {"country": p.country.code}}
        if p.phone_on_file:
            traits["phone"] = self.rng.choice(
                (p.phone_national, p.phone_national.replace(" ", ""), p.phone_international)
            )
        elif p.loyalty_id:
            context["externalIds"] = [self.loyalty_ref()]
        else:
            traits["email"] = p.email
        t = self.emit(t, {"type": "identify", **who, "context": context, "traits": traits})
        reason = self.rng.choice(("order status", "returns", "billing", "product advice"))
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "Call Completed",
                **who,
                "context": context,
                "properties": {"reason": reason, "duration_seconds": self.rng.randint(60, 1500)},
            },
        )
        if self.rng.random() < 0.5:
            t = self.support_ticket(t, "call_center", who=who)
        return t

    def support_ticket(self, t: datetime, channel: str, who: Payload | None = None) -> datetime:
        rng, mood = self.rng, self.persona.mood
        t = self.daytime(t)
        who = who or self.who(identified=True)
        self.tickets += 1
        ticket_id = f"T-{self.persona.user_id[-6:]}-{self.tickets:02d}"
        context: Payload = {
            "channel": channel,
            "library": {"name": "threadline-helpdesk", "version": "1.0.4"},
        }
        opened = {
            "ticket_id": ticket_id,
            "subject": rng.choice(TICKET_SUBJECTS),
            "priority": rng.choice(("low", "normal", "normal", "high")),
        }
        t = self.emit(
            t,
            {
                "type": "track",
                "event": "Support Ticket Opened",
                **who,
                "properties": opened,
                "context": context,
            },
        )
        # Unhappy customers wait longer: median ~3 h when delighted, ~30 h when not.
        hours = math.exp(rng.gauss(math.log(3 + 27 * (1 - mood)), 0.6))
        resolved_at = t + timedelta(hours=hours)
        if resolved_at >= self.now:
            return t  # still open at the end of the simulation
        t = self.emit(
            resolved_at,
            {
                "type": "track",
                "event": "Support Ticket Resolved",
                **self.who(identified=True),
                "context": context,
                "properties": {"ticket_id": ticket_id, "resolution_hours": round(hours, 2)},
            },
        )
        survey = "csat" if rng.random() < 0.6 else "ces"
        return self.survey(t + timedelta(minutes=rng.uniform(10, 240)), survey, "email")

    def survey(self, t: datetime, survey: str, channel: str) -> datetime:
        if t >= self.now:
            return t
        score = survey_score(self.rng, survey, self.persona.mood)
        low, high = SURVEY_SCALES[survey]
        context: Payload = {
            "channel": channel,
            "library": {"name": "threadline-surveys", "version": "1.2.0"},
        }
        return self.emit(
            t,
            {
                "type": "track",
                "event": "Survey Answered",
                **self.who(identified=True),
                "context": context,
                "properties": {
                    "survey": survey,
                    "score": score,
                    "scale_min": low,
                    "scale_max": high,
                    "survey_id": f"{survey}-2026",
                },
            },
        )


SURVEY_SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


def survey_score(rng: random.Random, survey: str, mood: float) -> int:
    """A score around what this mood would give, with the spread real answers show.

    NPS answers pile up at 8-10 with a tail of detractors; CSAT is skewed to 4-5;
    CES (7 = very easy) centres on 5.
    """
    low, high = SURVEY_SCALES[survey]
    centre = {"nps": 3.0 + 7.5 * mood, "csat": 1.6 + 3.6 * mood, "ces": 2.0 + 5.0 * mood}[survey]
    spread = {"nps": 1.8, "csat": 0.8, "ces": 1.1}[survey]
    return max(low, min(high, round(rng.gauss(centre, spread))))
