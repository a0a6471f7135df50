"""Simulated customers: who they are, where they live, how they feel about the brand.

Everything is drawn from the ``random.Random`` passed in, so a persona is a pure
function of its seed. Phone numbers are drawn until libphonenumber accepts them
as valid for the country, then written the way people type them at home
(national format), so the collector's E.164 normalization has real work to do.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import phonenumbers

from threadline.simulation.addresses import draw_address


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    currency: str
    locale: str
    utc_offset_hours: int
    mobile_prefixes: tuple[str, ...]
    """National-format prefixes (with trunk digit) that mobile numbers start with."""
    national_digits: int
    """Digits of a national number, trunk prefix included."""
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    price_scale: int
    """Typical price of one item, in whole units of the currency."""


COUNTRIES: tuple[Country, ...] = (
    Country("US", "USD", "en-US", -5, ("212", "312", "415", "617", "206", "512"), 10,
            ("James", "Mary", "Olivia", "Liam", "Ava", "Noah", "Emma", "Ethan"),
            ("Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis"), 40),
    Country("GB", "GBP", "en-GB", 0, ("0770", "0771", "0780", "0791", "0752"), 11,
            ("Oliver", "Amelia", "George", "Isla", "Harry", "Poppy", "Jack"),
            ("Taylor", "Evans", "Wilson", "Thomas", "Roberts", "Walker"), 30),
    Country("DE", "EUR", "de-DE", 1, ("0151", "0160", "0170", "0176"), 11,
            ("Lukas", "Anna", "Leon", "Mia", "Paul", "Lea", "Jonas", "Hannah"),
            ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"), 35),
    Country("FR", "EUR", "fr-FR", 1, ("06", "07"), 10,
            ("Louis", "Chloé", "Gabriel", "Léa", "Hugo", "Manon", "Jules"),
            ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit"), 35),
    Country("JP", "JPY", "ja-JP", 9, ("090", "080", "070"), 11,
            ("Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto"),
            ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito"), 4500),
    Country("BR", "BRL", "pt-BR", -3, ("119", "219", "319", "419"), 11,
            ("Miguel", "Alice", "Arthur", "Sophia", "Heitor", "Laura", "Davi"),
            ("Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira"), 150),
    Country("CA", "CAD", "en-CA", -5, ("416", "604", "514", "403"), 10,
            ("Noah", "Charlotte", "William", "Emma", "Benjamin", "Olivia"),
            ("Tremblay", "Roy", "Gagnon", "MacDonald", "Campbell", "Lee"), 45),
    Country("AU", "AUD", "en-AU", 10, ("0412", "0423", "0438", "0455"), 10,
            ("Jack", "Charlotte", "Oliver", "Matilda", "William", "Ruby"),
            ("Smith", "Jones", "Williams", "Nguyen", "Kelly", "Martin"), 50),
)  # fmt: skip

EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
GUESTS = 0.12
"""The share of people who never sign in."""
SECOND_ACCOUNTS = 0.04
"""The share of account holders who open a second account later."""


@dataclass(frozen=True, slots=True)
class SecondAccount:
    user_id: str
    email: str
    anonymous_id: str


@dataclass(frozen=True, slots=True)
class Persona:
    """One simulated customer and the identifiers their touchpoints will carry."""

    index: int
    user_id: str
    first_name: str
    last_name: str
    email: str
    """As the customer types it: mixed case, sometimes with stray spaces."""
    phone_national: str
    phone_international: str
    country: Country
    loyalty_id: str | None
    web_anonymous_id: str
    device_id: str | None
    platform: str | None
    """``ios`` or ``android`` when the customer uses the mobile app."""
    mood: float
    """0 (unhappy) … 1 (delighted): shifts survey answers and how often things go wrong."""
    shopper: float
    """How likely a session ends in a purchase."""
    first_seen: timedelta
    """How long before the simulation's base time the customer first shows up."""
    signs_in: bool = True
    """False for people who never create an account: they only ever browse anonymously."""
    address: Mapping[str, Any] = field(default_factory=dict)
    phone_on_file: bool = False
    """Whether the account carries the phone (given at sign-up): the call center then
    recognises the caller by it; otherwise by the loyalty card, or by the email they spell."""
    second_account: SecondAccount | None = None
    """A second account the same person opens later (another email and user id, same
    name, phone and address): identity rules must not merge two user ids, so this stays
    two customers, and data hygiene should suspect them of being one person."""


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def draw_phone(rng: random.Random, country: Country) -> phonenumbers.PhoneNumber:
    """A number libphonenumber considers a valid mobile/fixed number of ``country``."""
    for _ in range(200):
        prefix = rng.choice(country.mobile_prefixes)
        rest = "".join(str(rng.randrange(10)) for _ in range(country.national_digits - len(prefix)))
        if country.code in {"US", "CA"} and rest[0] in "01":
            continue  # NANP exchange codes never start with 0 or 1
        candidate = prefix + rest
        number = phonenumbers.parse(candidate, country.code)
        if phonenumbers.is_valid_number(number):
            return number
    raise RuntimeError(f"could not draw a valid phone number for {country.code}")


def draw_persona(rng: random.Random, index: int) -> Persona:
    country = rng.choices(COUNTRIES, weights=(30, 15, 14, 10, 9, 9, 7, 6))[0]
    first = rng.choice(country.first_names)
    last = rng.choice(country.last_names)
    domain = rng.choice(EMAIL_DOMAINS)
    local = f"{ascii_slug(first)}.{ascii_slug(last)}{rng.randrange(1, 999)}"
    email = f"{local}@{domain}"
    # A fifth of customers type their address with capitals and stray spaces.
    if rng.random() < 0.2:
        email = f" {local.title()}@{domain.upper()} "
    number = draw_phone(rng, country)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    app_user = rng.random() < 0.6
    persona = Persona(
        index=index,
        user_id=f"cust-{rng.getrandbits(48):012x}",
        first_name=first,
        last_name=last,
        email=email,
        phone_national=national,
        phone_international=international,
        country=country,
        loyalty_id=f"LC{rng.randrange(10**9, 10**10)}" if rng.random() < 0.5 else None,
        web_anonymous_id=new_uuid(rng),
        device_id=new_uuid(rng).upper() if app_user else None,
        platform=rng.choice(("ios", "android")) if app_user else None,
        mood=rng.betavariate(4.0, 2.0),
        shopper=rng.uniform(0.15, 0.6),
        first_seen=timedelta(days=rng.uniform(14, 56)),
    )
    # Drawn after the rest, so what the fields above draw stays as it was.
    signs_in = index == 0 or rng.random() >= GUESTS  # persona 0 is `threadline up`'s example
    address = draw_address(rng, country.code)
    second = None
    if rng.random() < SECOND_ACCOUNTS and signs_in:
        other = f"{ascii_slug(first)}{rng.randrange(10, 99)}@{rng.choice(EMAIL_DOMAINS)}"
        second = SecondAccount(f"cust-{rng.getrandbits(48):012x}", other, new_uuid(rng))
    return replace(
        persona,
        signs_in=signs_in,
        address=address,
        phone_on_file=rng.random() < 0.6 or second is not None,
        second_account=second,
    )


def ascii_slug(text: str) -> str:
    table = str.maketrans({"ü": "u", "é": "e", "è": "e", "ö": "o", "ä": "a"})
    return text.translate(table).lower()
