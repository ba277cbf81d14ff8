"""Phone numbers: canonical E.164 that can exist, or a message saying what to write instead."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

import phonenumbers

from reconciler.text import SHOWN_CHARS, shown, shown_json, type_name

CANONICAL_E164 = re.compile(r"\+[1-9][0-9]{1,14}\Z")
_LOOSE_CHARS = re.compile(r"[\s\-().\u00a0\u2010-\u2015]")
_E164_HINT = '"+", the country code and the number, digits only, e.g. "+14155550100"'


def check_phone_number(value: Any, raw: str | None) -> str | None:
    """The message for a value that is not a canonical, possible E.164 number, else None."""
    if isinstance(value, str):
        if CANONICAL_E164.fullmatch(value):
            return _impossible_reason(value)
        written = shown_json(value)
        if re.fullmatch(r"\+[0-9]{16,}", value):
            return f"{written} has {len(value) - 1} digits: E.164 allows at most 15"
        if value.startswith("+0"):
            return f"{written} is not an E.164 phone number: no country code starts with 0"
        suggestion = suggest_e164(value)
        if suggestion is not None:
            return f'{written} is not canonical E.164: did you mean "{suggestion}"?'
        return f"{written} is not an E.164 phone number ({_E164_HINT})"
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Shown as written: YAML may have read it as something else (014 is octal 12).
        written = shown(raw if raw is not None else str(value))
        digits = written.replace("_", "")  # 1_415_555_0100 is a number to YAML 1.1
        quoted = suggest_e164(digits) if re.fullmatch(r"\+?[0-9]+", digits) else None
        if quoted is not None:
            return f'{written} is a number, not a string: quote it as "{quoted}"'
        return f"{written} is a number, not a string: quote it and write it in E.164 ({_E164_HINT})"
    return f"a phone number must be a quoted string, not {type_name(value)}"


def suggest_e164(value: str) -> str | None:
    """The canonical, possible E.164 form of a loosely written number, or None."""
    if len(value) > SHOWN_CHARS:
        return None  # nothing that long is a loosely written phone number
    # NFKC turns fullwidth digits and plus signs into ASCII ones.
    loose = unicodedata.normalize("NFKC", value)
    if not loose.isascii():
        # Other scripts' decimal digits (Arabic-Indic, Devanagari, ...) as ASCII digits.
        loose = "".join(str(unicodedata.decimal(char, char)) for char in loose)
    loose = _LOOSE_CHARS.sub("", loose)
    if not loose.startswith("+"):  # 00 is the international prefix in most countries
        loose = "+" + loose.removeprefix("00")
    return loose if CANONICAL_E164.fullmatch(loose) and _impossible_reason(loose) is None else None


def _impossible_reason(number: str) -> str | None:
    """Why a canonical-looking E.164 number cannot exist, or None when it is possible."""
    code = _country_code(number[1:4])
    if code is None:
        return f"{number} has no valid country code"
    national = number[1 + len(str(code)) :]
    if not national:
        return f"{number} has a country code but no subscriber number"
    if not national.lstrip("0"):
        return f"{number} is not a possible phone number"
    if national.startswith("0"):  # whether a leading 0 counts depends on the country
        possible = phonenumbers.is_possible_number_string(number, phonenumbers.UNKNOWN_REGION)
    else:
        possible = _possible_length(code, len(national))
    if possible:
        return None
    return f"{number} is not a possible phone number for country code +{code} (wrong length)"


@cache
def _possible_length(country_code: int, length: int) -> bool:
    """True when a subscriber number of this many digits, not starting with 0, can exist."""
    national = int("1" + "0" * (length - 1))
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=national)
    return bool(phonenumbers.is_possible_number(number))


@cache
def _country_code(prefix: str) -> int | None:
    """The country code a number's first digits start with (no code is a prefix of another)."""
    codes = (int(prefix[:size]) for size in (1, 2, 3))
    return next((code for code in codes if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), None)
