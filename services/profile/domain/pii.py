"""Which traits and identities are personal data, and how they are shown without ``pii:read``.

A value is PII when its name says so or its shape does. Names are compared
folded (``workEmail``, ``work_email`` and ``work-email`` are one name) against
stems of what people are called and how they are reached: ``email``,
``phone``/``mobile``/``tel``/``cell``/``fax``, name parts (``firstName``,
``surname``…), ``address``/``street``/``zip``/``postal``, ``birth``/``dob``,
``ssn``/``social_security``, ``passport``, ``iban``, ``card``/``credit``,
``ip``…, plus the names an operator configures (``THREADLINE_PII_TRAITS``).
Values under any other name are masked when they look like PII
(:mod:`shared.pii`: emails, phone numbers, card numbers, IBANs, IP addresses).
Nested objects and lists are masked the same way, key by key and item by item.

Masking errs on the side of hiding: a trait called ``mobileAppVersion`` is
masked as if it were a phone number, which is cheaper than one leaked number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from shared.pii import HIDDEN, mask_by_shape, mask_email, mask_int, mask_phone

__all__ = [
    "DEFAULT_POLICY",
    "HIDDEN",
    "PiiPolicy",
    "is_pii",
    "mask_identity",
    "mask_name",
    "mask_trait",
    "mask_traits",
]


class _Kind(Enum):
    EMAIL = "email"
    PHONE = "phone"
    NAME = "name"
    HIDDEN = "hidden"


_PHONE_TOKENS = frozenset({"tel", "telephone", "mobile", "cell", "cellular", "fax", "msisdn"})
_PHONE_STEMS = ("phone", "mobilenumber", "cellnumber", "faxnumber", "telnumber")
_NAMES = frozenset({"name", "fullname", "username", "displayname", "nickname"})
_NAME_ENDINGS = (
    "firstname",
    "lastname",
    "middlename",
    "surname",
    "givenname",
    "familyname",
    "maidenname",
    "fullname",
)
_HIDDEN_TOKENS = frozenset(
    {"zip", "postal", "dob", "age", "gender", "ssn", "card", "cvv", "cvc", "iban", "ip"}
    | {"ipv4", "ipv6", "nin"}
)
_HIDDEN_STEMS = (
    "address",
    "street",
    "zipcode",
    "postcode",
    "postalcode",
    "birth",
    "socialsecurity",
    "passport",
    "creditcard",
    "cardnumber",
    "taxid",
    "nationalid",
    "iban",
    "password",
    "latitude",
    "longitude",
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _tokens(name: str) -> list[str]:
    # ``lastLoginIP``, ``last_login_ip`` and ``Last Login IP`` are the same three words.
    return [t for t in _NOT_ALNUM.split(_CAMEL.sub(" ", name).lower()) if t]


def _fold(name: str) -> str:
    return "".join(_tokens(name))


def _kind_by_name(name: str) -> _Kind | None:
    tokens = _tokens(name)
    folded = "".join(tokens)
    if "email" in folded:
        return _Kind.EMAIL
    if any(stem in folded for stem in _PHONE_STEMS) or not _PHONE_TOKENS.isdisjoint(tokens):
        return _Kind.PHONE
    if folded in _NAMES or folded.endswith(_NAME_ENDINGS) or "surname" in tokens:
        return _Kind.NAME
    if any(stem in folded for stem in _HIDDEN_STEMS) or not _HIDDEN_TOKENS.isdisjoint(tokens):
        return _Kind.HIDDEN
    return None


def mask_name(value: str) -> str:
    return f"{value[:1]}{HIDDEN}" if value else HIDDEN


def _mask_text(kind: _Kind, value: str) -> str:
    if kind is _Kind.EMAIL:
        return mask_email(value)
    if kind is _Kind.PHONE:
        return mask_phone(value)
    if kind is _Kind.NAME:
        return mask_name(value)
    return HIDDEN


@dataclass(frozen=True, slots=True)
class PiiPolicy:
    """Recognises PII by name and shape; ``extra_names`` are further trait names (folded)
    that are always hidden."""

    extra_names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, names: Iterable[str]) -> PiiPolicy:
        return cls(frozenset(_fold(name) for name in names if _fold(name)))

    def _kind(self, name: str) -> _Kind | None:
        if self.extra_names and _fold(name) in self.extra_names:
            return _Kind.HIDDEN
        return _kind_by_name(name)

    def is_pii(self, name: str) -> bool:
        """Whether a trait of this name is PII whatever its value."""
        return self._kind(name) is not None

    def mask_trait(self, name: str, value: Any) -> Any:
        """The value shown without ``pii:read``; values that are no PII pass through."""
        return self._mask(self._kind(name), value)

    def mask_traits(self, traits: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self.mask_trait(name, value) for name, value in traits.items()}

    def without_pii(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` without the entries that are PII by name, at any depth, nor values
        that are PII by shape (an email under ``note``): what a store may keep of them."""
        kept: dict[str, Any] = {}
        for name, value in values.items():
            if self.is_pii(str(name)):
                continue
            if isinstance(value, Mapping):
                kept[name] = self.without_pii(value)
            elif isinstance(value, str) and mask_by_shape(value) != value:
                continue
            else:
                kept[name] = value
        return kept

    def mask_identity(self, identity_type: str, value: str) -> str:
        """Identities of PII types (email, phone…) are masked like the matching traits, and
        any other identity (a ``userId``) whose value looks like PII by its shape."""
        kind = self._kind(identity_type)
        return mask_by_shape(value) if kind is None else _mask_text(kind, value)

    def _mask(self, kind: _Kind | None, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value  # a flag (``emailVerified``) says nothing about the person
        if isinstance(value, Mapping):
            if kind is _Kind.HIDDEN:
                return HIDDEN
            return {k: self._mask(self._kind(str(k)) or kind, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask(kind, item) for item in value]
        if kind is None:
            if isinstance(value, str):
                return mask_by_shape(value)
            return mask_int(value) if isinstance(value, int) else value
        if isinstance(value, str):
            if kind is _Kind.EMAIL and "@" not in value:
                return HIDDEN
            return _mask_text(kind, value)
        return HIDDEN


DEFAULT_POLICY = PiiPolicy()
is_pii = DEFAULT_POLICY.is_pii
mask_trait = DEFAULT_POLICY.mask_trait
mask_traits = DEFAULT_POLICY.mask_traits
mask_identity = DEFAULT_POLICY.mask_identity
