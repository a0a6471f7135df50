"""The simulator's ground truth: which person sent each message.

Identity resolution is judged against it: every person's touchpoints are
linkable by deterministic rules (a userId, an email, a phone or loyalty card on
file, an app's device id signed in once), except what no rule may link — a
second account of the same person (two user ids) stays a customer of its own,
which data hygiene should then report as a suspected duplicate. Shared devices
(a household tablet, a store kiosk) carry one anonymous id for several people.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from threadline.simulation.personas import Persona

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Simulation:
    payloads: list[Payload]
    """Segment messages in time order, as ``threadline simulate`` sends them."""
    personas: tuple[Persona, ...]
    """Index ``i`` is person ``i``."""
    person_of: Mapping[str, int]
    """``messageId`` → the index of the person who sent it."""

    @property
    def persons(self) -> int:
        return len(self.personas)

    @property
    def expected_customers(self) -> int:
        """Customers a correct resolution ends with: one per person, plus one per second
        account (two user ids are never merged by rule)."""
        return self.persons + sum(p.second_account is not None for p in self.personas)

    def duplicate_accounts(self) -> list[tuple[str, str]]:
        """(first user id, second user id) of every person with two accounts."""
        return [
            (p.user_id, p.second_account.user_id)
            for p in self.personas
            if p.second_account is not None
        ]
