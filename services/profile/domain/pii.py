"""Which traits are personal data, and how they are shown to callers without ``pii:read``.

Masking keeps just enough to recognise a value you already know (the first
letter of a name, an email's domain, a phone's country code and last digits)
and nothing that would let you learn one you do not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

HIDDEN = "***"

_EMAIL = frozenset({"email", "emailaddress"})
_PHONE = frozenset({"phone", "phonenumber", "mobile", "mobilephone", "fax"})
_NAME = frozenset(
    {"name", "firstname", "lastname", "fullname", "middlename", "username", "displayname"}
)
_HIDDEN = frozenset(
    {
        "address",
        "street",
        "streetaddress",
        "postalcode",
        "zip",
        "zipcode",
        "birthday",
        "birthdate",
        "dateofbirth",
        "dob",
        "age",
        "gender",
        "ssn",
        "taxid",
        "passport",
        "ip",
        "ipaddress",
    }
)
_NOT_LETTER = re.compile(r"[^a-z0-9]")


def _folded(name: str) -> str:
    # ``first_name``, ``firstName`` and ``First Name`` are the same trait.
    return _NOT_LETTER.sub("", name.lower())


def is_pii(name: str) -> bool:
    folded = _folded(name)
    return folded in _EMAIL or folded in _PHONE or folded in _NAME or folded in _HIDDEN


def mask_email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at:
        return HIDDEN
    return f"{local[:1]}{HIDDEN}@{domain}"


def mask_phone(value: str) -> str:
    digits = value.strip()
    if len(digits) <= 5:
        return HIDDEN
    # Keep "+" and the first digits (the country code of an E.164 number) and the last two.
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def mask_name(value: str) -> str:
    return f"{value[:1]}{HIDDEN}" if value else HIDDEN


def mask_trait(name: str, value: Any) -> Any:
    """The value shown without ``pii:read``; non-PII traits pass through unchanged."""
    if value is None:
        return None
    folded = _folded(name)
    if folded in _EMAIL:
        return mask_email(value) if isinstance(value, str) else HIDDEN
    if folded in _PHONE:
        return mask_phone(value) if isinstance(value, str) else HIDDEN
    if folded in _NAME:
        return mask_name(value) if isinstance(value, str) else HIDDEN
    if folded in _HIDDEN:
        return HIDDEN
    return value


def mask_traits(traits: Mapping[str, Any]) -> dict[str, Any]:
    return {name: mask_trait(name, value) for name, value in traits.items()}


def mask_identity(identity_type: str, value: str) -> str:
    """Identities of PII types (email, phone) are masked like the matching traits."""
    folded = _folded(identity_type)
    if folded in _EMAIL:
        return mask_email(value)
    if folded in _PHONE:
        return mask_phone(value)
    return value
