"""Phone numbers: canonical E.164 that can exist, or a message saying what to write instead."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

import phonenumbers

from reconciler.config.document import (
    SHOWN_CHARS,
    Document,
    YamlPath,
    diagnostic_at,
    shown,
    shown_json,
    type_name,
)
from reconciler.config.schema import OWNER_LISTS
from reconciler.errors import Diagnostic

CANONICAL_E164 = re.compile(r"\+[1-9][0-9]{1,14}\Z")
_LOOSE_CHARS = re.compile(r"[\s\-().\u00a0\u2010-\u2015]")
_E164_HINT = '"+", the country code and the number, digits only, e.g. "+14155550100"'

# Why a canonical-looking number cannot exist; {number} and {code} are filled in.
_NO_COUNTRY_CODE = "{number} has no valid country code"
_NO_SUBSCRIBER_NUMBER = "{number} has a country code but no subscriber number"
_ALL_ZEROS = "{number} is not a possible phone number"
_WRONG_LENGTH = "{number} is not a possible phone number for country code +{code} (wrong length)"
# Stands for "the country code and length do not decide": a subscriber number starting with 0.
_DEPENDS_ON_DIGITS = "depends on the digits"

# A reason template and the country code it names.
_Reason = tuple[str, int]


def check_phone_number(value: Any, raw: str | None) -> str | None:
    """The message for a value that is not a canonical, possible E.164 number, else None."""
    if isinstance(value, str):
        if CANONICAL_E164.fullmatch(value):
            return _impossible_reason(value)
        return _string_message(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Shown as written: YAML may have read it as something else (014 is octal 12).
        written = shown(raw if raw is not None else str(value))
        if re.fullmatch(r"\+?[0-9_]+", written):
            quoted = "+" + written.lstrip("+").replace("_", "")
            if CANONICAL_E164.fullmatch(quoted) and _impossible_reason(quoted) is None:
                return f'{written} is a number, not a string: quote it as "{quoted}"'
        return f"{written} is a number, not a string: quote it and write it in E.164 ({_E164_HINT})"
    return f"a phone number must be a quoted string, not {type_name(value)}"


def _string_message(value: str) -> str:
    """The message for a string that is not canonical E.164."""
    written = shown_json(value)
    if re.fullmatch(r"\+[0-9]{16,}", value):
        return f"{written} has {len(value) - 1} digits: E.164 allows at most 15"
    if value.startswith("+0"):
        return f"{written} is not an E.164 phone number: no country code starts with 0"
    suggestion = suggest_e164(value)
    if suggestion is not None and suggestion != value:
        reason = _impossible_reason(suggestion)
        if reason is None:
            return f'{written} is not canonical E.164: did you mean "{suggestion}"?'
    return f"{written} is not an E.164 phone number ({_E164_HINT})"


def suggest_e164(value: str) -> str | None:
    """A canonical E.164 form of a loosely written number, or None when there is none."""
    if len(value) > SHOWN_CHARS:
        return None  # nothing that long is a loosely written phone number
    # NFKC turns fullwidth digits and plus signs into ASCII ones.
    loose = _LOOSE_CHARS.sub("", _ascii_digits(unicodedata.normalize("NFKC", value)))
    if loose.startswith("00"):
        loose = "+" + loose[2:]
    elif not loose.startswith("+"):
        loose = "+" + loose
    return loose if CANONICAL_E164.fullmatch(loose) else None


def check_document_numbers(document: Document, diagnostics: list[Diagnostic]) -> None:
    """Add a diagnostic for each phone number of the document that is not canonical and possible."""
    value = document.value
    groups: list[tuple[YamlPath, Any]] = []
    for key in OWNER_LISTS:
        entries = value.get(key)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, dict) and isinstance(entry.get("numbers"), list):
                groups.append(((key, index, "numbers"), entry["numbers"]))
    if isinstance(value.get("protected"), list):
        groups.append((("protected",), value["protected"]))
    for base, numbers in groups:
        for index, number in enumerate(numbers):
            path: YamlPath = (*base, index)
            if isinstance(number, dict) and base[0] != "protected":
                # A mapping entry: its `number` is checked like a plain one (the schema
                # reports a mapping without it).
                if "number" not in number:
                    continue
                path, number = (*path, "number"), number["number"]
            if document.is_refused(path):
                continue
            # Cheap test first: most numbers in a large file are already canonical and possible.
            if isinstance(number, str) and CANONICAL_E164.fullmatch(number):
                message = _impossible_reason(number)
            else:
                message = check_phone_number(number, document.raw.get(path))
            if message is not None:
                diagnostics.append(diagnostic_at(document.mark(path), message))


def _impossible_reason(number: str) -> str | None:
    """Why a canonical-looking E.164 number cannot exist, or None when it is possible."""
    reason = _reason_from_shape(number[1:5], len(number) - 1)
    if reason is None:
        return None
    template, code = reason
    if template is _DEPENDS_ON_DIGITS:
        return _impossible_reason_from_digits(number)
    return template.format(number=number, code=code)


@cache
def _reason_from_shape(prefix: str, digit_count: int) -> _Reason | None:
    """What the country code and length alone say (numbers of a large file share both).

    None when possible; _DEPENDS_ON_DIGITS for a subscriber number starting with 0, which
    depends on more than the length.
    """
    code = _country_code(prefix)
    if code is None:
        return _NO_COUNTRY_CODE, 0
    code_length = len(str(code))
    if digit_count == code_length:
        return _NO_SUBSCRIBER_NUMBER, code
    if prefix[code_length : code_length + 1] == "0":
        return _DEPENDS_ON_DIGITS, code
    if _possible_length(code, digit_count - code_length):
        return None
    return _WRONG_LENGTH, code


def _impossible_reason_from_digits(number: str) -> str | None:
    """The same answer as _impossible_reason, judged from every digit rather than the shape."""
    digits = number[1:]
    code = _country_code(digits)
    if code is None:
        return _NO_COUNTRY_CODE.format(number=number)
    national = digits[len(str(code)) :]
    if not national:
        return _NO_SUBSCRIBER_NUMBER.format(number=number)
    if not national.lstrip("0"):
        return _ALL_ZEROS.format(number=number)
    if national.startswith("0"):
        try:
            possible = phonenumbers.is_possible_number(phonenumbers.parse(number, None))
        except phonenumbers.NumberParseException:
            possible = False
    else:
        possible = _possible_length(code, len(national))
    return None if possible else _WRONG_LENGTH.format(number=number, code=code)


@cache
def _possible_length(country_code: int, length: int) -> bool:
    """True when a subscriber number of this many digits, not starting with 0, can exist."""
    number = phonenumbers.PhoneNumber(
        country_code=country_code, national_number=int("1" + "0" * (length - 1))
    )
    return bool(phonenumbers.is_possible_number(number))


def _country_code(digits: str) -> int | None:
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code
    return None


def _ascii_digits(text: str) -> str:
    """Other scripts' decimal digits (Arabic-Indic, Devanagari, ...) as ASCII digits."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(char)) if unicodedata.decimal(char, None) is not None else char
        for char in text
    )
