"""Canonical forms of single values (DESIGN.md §4), pure and deterministic.

Each function takes a raw value and returns its canonical form, or raises
:class:`CanonicalError` with a message that says what was wrong and how to fix
it; :mod:`shared.normalize.messages` attaches the field path and collects every problem
of an event into one :class:`~shared.errors.ValidationError`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import phonenumbers

from shared.errors import ThreadlineError
from shared.normalize.currencies import ACTIVE_CODES

CHANNELS = frozenset(
    {
        "web",
        "mobile_app",
        "store",
        "call_center",
        "email",
        "sms",
        "chat",
        "social",
        "kiosk",
        "partner",
        "other",
    }
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Segment's own context.channel values, mapped onto ours.
_CHANNEL_ALIASES = {"browser": "web", "mobile": "mobile_app", "server": "other"}
_WEB_LIBRARIES = ("analytics.js", "analytics-next", "browser", "javascript", "rudder-sdk-js")
_MOBILE_LIBRARIES = (
    "analytics-ios",
    "analytics-android",
    "analytics-swift",
    "analytics-kotlin",
    "react-native",
    "flutter",
    "xamarin",
    "unity",
    "ios",
    "android",
    "mobile",
)
_CAMEL_LOWER_UPPER = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CAMEL_ACRONYM = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_MAX_DECIMAL_DIGITS = 34  # what a MongoDB Decimal128 holds


class CanonicalError(ThreadlineError):
    """A single value has no canonical form; the message explains why."""


def timestamp(value: Any) -> datetime:
    """An aware UTC datetime from ISO 8601 text (naive = UTC) or epoch milliseconds."""
    if isinstance(value, bool):
        raise CanonicalError("must be an ISO 8601 timestamp or epoch milliseconds, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise CanonicalError("epoch milliseconds must be a finite number")
        try:
            return _EPOCH + timedelta(milliseconds=value)
        except OverflowError as exc:
            raise CanonicalError(f"epoch milliseconds {value!r} are out of range") from exc
    if not isinstance(value, str):
        raise CanonicalError("must be an ISO 8601 timestamp string or epoch milliseconds")
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CanonicalError(
            f"{value[:40]!r} is not an ISO 8601 timestamp (e.g. 2024-05-01T12:00:00Z)"
        ) from None
    if moment.tzinfo is UTC:  # a "Z" or "+00:00" suffix: nothing to convert
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise CanonicalError(f"{value[:40]!r} is out of range once converted to UTC") from exc


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and a ``Z``; years before 1000 stay four digits."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat is C code, several times faster than strftime; it ends in "+00:00" here.
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def corrected_timestamp(
    received_at: datetime, sent_at: datetime | None, original: datetime | None
) -> datetime:
    """Segment's clock-skew correction: receivedAt − (sentAt − originalTimestamp).

    The client's clock may be wrong, but the interval it measured between
    recording and sending the event is right; anchoring that interval at our
    receive time gives the event time on our clock.
    """
    if original is None:
        return received_at
    if sent_at is None:
        return original
    try:
        return received_at - (sent_at - original)
    except OverflowError:
        return original


def currency(value: Any) -> str:
    if not isinstance(value, str):
        raise CanonicalError("must be an ISO 4217 currency code string such as 'EUR'")
    code = value.strip().upper()
    if code not in ACTIVE_CODES:
        raise CanonicalError(f"{value[:20]!r} is not an ISO 4217 currency code (e.g. EUR, USD)")
    return code


def money(value: Any) -> Decimal:
    """An exact decimal amount from a number or a numeric string; floats via their repr."""
    if isinstance(value, bool):
        raise CanonicalError("must be a number or a decimal string, not a boolean")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        # repr gives the shortest text that round-trips, so 12.1 stays 12.1.
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise CanonicalError(f"{value[:40]!r} is not a decimal number") from None
    else:
        raise CanonicalError("must be a number or a decimal string such as '12.50'")
    if not amount.is_finite():
        raise CanonicalError("must be a finite amount, not NaN or infinity")
    digits = amount.as_tuple().digits
    if len(digits) > _MAX_DECIMAL_DIGITS or abs(amount.adjusted()) > 6000:
        raise CanonicalError(f"has more than {_MAX_DECIMAL_DIGITS} significant digits")
    return amount


def decimal_text(amount: Decimal) -> str:
    """Plain decimal notation (never exponent form), keeping the given scale."""
    return format(amount, "f")


def email(value: Any) -> str:
    """Trimmed, lower-cased, NFKC-normalized, invisible characters removed.

    NFKC folds the forms one address arrives in (``josé`` composed or decomposed,
    full-width letters from East Asian keyboards) into one; format characters
    (zero-width spaces and joiners, soft hyphens, BOMs: Unicode category Cf) are
    dropped, since they are invisible to the person who typed the address.
    """
    if not isinstance(value, str):
        raise CanonicalError("must be an email address string")
    visible = "".join(c for c in value if unicodedata.category(c) != "Cf")
    # Lower-casing can un-normalize (İ → i + combining dot): normalize after it, too.
    address = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).lower())
    address = address.strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise CanonicalError(f"{value[:60]!r} is not an email address (name@domain.tld)")
    return address


def phone(value: Any, region: str | None) -> str:
    """E.164; numbers without a ``+`` prefix are read in ``region`` (ISO 3166 alpha-2)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise CanonicalError("must be a phone number string, preferably E.164 (+4930123456)")
    text = value.strip()
    if not text.startswith("+") and region is None:
        raise CanonicalError(
            f"{value[:30]!r} has no +country prefix and the event names no country: "
            "send E.164 (+4930123456) or set context.locale / traits.country"
        )
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise CanonicalError(f"{value[:30]!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        where = f" in region {region}" if region and not text.startswith("+") else ""
        raise CanonicalError(f"{value[:30]!r} is not a valid phone number{where}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def region_of(locale: Any, country: Any) -> str | None:
    """The region for reading national phone numbers: a 2-letter country, else the locale's."""
    if isinstance(country, str) and len(country.strip()) == 2 and country.strip().isalpha():
        return country.strip().upper()
    if isinstance(locale, str):
        parts = locale.replace("_", "-").split("-")
        for part in parts[1:]:
            if len(part) == 2 and part.isalpha():
                return part.upper()
    return None


def snake_case(name: str) -> str:
    """``Order Completed`` → ``order_completed``, ``productViewed`` → ``product_viewed``.

    Accents are folded to ASCII and every run of other characters becomes one
    underscore, so the result is idempotent. Raises when nothing is left.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    spaced = _CAMEL_ACRONYM.sub("_", _CAMEL_LOWER_UPPER.sub("_", folded))
    result = _NOT_WORD.sub("_", spaced.lower()).strip("_")
    if not result:
        raise CanonicalError(f"{name[:40]!r} has no letters or digits to name an event by")
    return result


def channel(declared: Any, library: Any) -> str:
    """``context.channel`` when it names one of ours, else inferred from the SDK's name."""
    return _channel(
        declared if isinstance(declared, str) else None,
        library if isinstance(library, str) else None,
    )


@lru_cache(maxsize=1024)
def _channel(declared: str | None, library: str | None) -> str:
    if declared is not None:
        wanted = declared.strip().lower()
        wanted = _CHANNEL_ALIASES.get(wanted, wanted)
        if wanted in CHANNELS:
            return wanted
    if library is not None:
        name = library.lower()
        if any(marker in name for marker in _MOBILE_LIBRARIES):
            return "mobile_app"
        if any(marker in name for marker in _WEB_LIBRARIES):
            return "web"
    return "other"
