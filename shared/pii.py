"""What personal data looks like, whatever it is called: the value shapes of PII and their masks.

Used wherever a value may reach someone who must not see it: the profile
subgraph's masking (callers without ``pii:read``) and the JSON logs. A mask
keeps just enough to recognise a value you already know (an email's first
letter and domain, a phone's country code and last two digits, a card's last
four) and nothing that would let you learn one you do not.

Shapes recognised: emails, phone numbers (``+`` and 7-15 digits, or digits
grouped by spaces, dashes or parentheses), payment card numbers (13-19 digits
passing the Luhn check), IBANs (passing the mod-97 check) and IPv4/IPv6
addresses. Plain digit strings without a ``+`` are taken for ids, not phones.
"""

from __future__ import annotations

import ipaddress
import re

HIDDEN = "***"

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\(?\d[\d ().-]*\d")
_PHONE_IN_TEXT = re.compile(r"(?<![\w.+-])\+\d[\d ().-]{5,}\d(?![\w.-])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CARD = re.compile(r"\d[\d -]{11,}\d")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_NOT_DIGIT = re.compile(r"\D")


def mask_email(value: str) -> str:
    local, at, domain = value.strip().partition("@")
    if not at:
        return HIDDEN
    return f"{local[:1]}{HIDDEN}@{domain}"


def mask_phone(value: str) -> str:
    digits = value.strip()
    if len(digits) <= 5:
        return HIDDEN
    # Keep "+" and the first digits (the country code of an E.164 number) and the last two.
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def mask_card(value: str) -> str:
    return HIDDEN + _NOT_DIGIT.sub("", value)[-4:]


def is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value.strip()) is not None


def is_phone(value: str) -> bool:
    text = value.strip()
    if _PHONE.fullmatch(text) is None or _DATE.match(text):
        return False
    digits = len(_NOT_DIGIT.sub("", text))
    grouped = text.startswith("+") or any(c in text for c in " ()-")
    return grouped and 7 <= digits <= 15


def is_card_number(value: str) -> bool:
    text = value.strip()
    if _CARD.fullmatch(text) is None:
        return False
    digits = _NOT_DIGIT.sub("", text)
    return 13 <= len(digits) <= 19 and _luhn(digits)


def is_iban(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if _IBAN.fullmatch(compact) is None:
        return False
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1


def is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def mask_by_shape(value: str) -> str:
    """``value`` masked when it is PII by its shape alone; otherwise with any emails and
    ``+``-prefixed phone numbers inside it masked (unchanged when it has none)."""
    if is_email(value):
        return mask_email(value)
    if is_card_number(value):
        return mask_card(value)
    if is_phone(value):
        return mask_phone(value)
    if is_iban(value) or is_ip_address(value):
        return HIDDEN
    return scrub_text(value)


def scrub_text(text: str) -> str:
    """Free text (a log line, a note) with the emails and international phone numbers in
    it masked."""
    if "@" in text:
        text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group()), text)
    if "+" in text:
        text = _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)
    return text


def mask_int(value: int) -> int | str:
    """An integer that is a card number is hidden; any other stays as it is."""
    digits = str(abs(value))
    return mask_card(digits) if 13 <= len(digits) <= 19 and _luhn(digits) else value
