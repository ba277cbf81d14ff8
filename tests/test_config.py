"""Config loading as functions: phone number checks, limits, and what the loader returns."""

from __future__ import annotations

import random
from pathlib import Path

import jsonschema
import pytest

from reconciler.config import (
    DEFAULT_MAX_FILE_BYTES,
    MAX_DEPTH,
    check_phone_number,
    load_config,
    load_schema,
    suggest_e164,
)
from reconciler.config.phone import _impossible_reason, _impossible_reason_from_digits
from reconciler.errors import ConfigError, InputError
from tests.conftest import EXAMPLES


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("+1 (415) 555-0100", "+14155550100"),
        ("+1.415.555.0100", "+14155550100"),
        ("+14155550100\n", "+14155550100"),
        ("\t+14155550100 ", "+14155550100"),
        ("+1\u00a0415\u2011555\u20110100", "+14155550100"),  # no-break space and hyphen
        (
            "\uff0b\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10",
            "+14155550100",
        ),
        ("+\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0660\u0660", "+14155550100"),
        ("+\u0967\u096a\u0967\u096b\u096b\u096b\u096b\u0966\u0967\u0966\u0966", "+14155550100"),
        ("0044 20 7946 0958", "+442079460958"),
        ("14155550100", "+14155550100"),
    ],
)
def test_loosely_written_numbers_get_their_canonical_form(written: str, canonical: str) -> None:
    assert suggest_e164(written) == canonical
    message = check_phone_number(written, None)
    assert message is not None
    assert message.endswith(f' is not canonical E.164: did you mean "{canonical}"?')


@pytest.mark.parametrize(
    "written", ["+1415555O100", "tel:+14155550100", "+1 415 555 0100 ext 2", "", "+", "x" * 500]
)
def test_no_suggestion_when_the_value_is_not_a_number(written: str) -> None:
    assert suggest_e164(written) is None


UNQUOTED = "is a number, not a string: quote it"
IMPOSSIBLE_US = "is not a possible phone number for country code +1 (wrong length)"


@pytest.mark.parametrize(
    ("value", "raw", "message"),
    [
        (14155550100, "+14155550100", f'+14155550100 {UNQUOTED} as "+14155550100"'),
        (14155550100, "14155550100", f'14155550100 {UNQUOTED} as "+14155550100"'),
        (14155550100, "1_415_555_0100", f'1_415_555_0100 {UNQUOTED} as "+14155550100"'),
        (31, "0x1F", "0x1F is a number, not a string: quote it and write it in E.164"),
        (1.5, "1.5", "1.5 is a number, not a string: quote it and write it in E.164"),
        (None, None, "a phone number must be a quoted string, not empty (null)"),
        (True, None, "a phone number must be a quoted string, not a boolean"),
        ("+14155550100", None, None),
        ("+442079460958", None, None),
        ("+1415555010", None, f"+1415555010 {IMPOSSIBLE_US}"),
        ("+999123456", None, "+999123456 has no valid country code"),
        ("+14155550100123", None, f"+14155550100123 {IMPOSSIBLE_US}"),
        ("+1415555010012345", None, '"+1415555010012345" has 16 digits: E.164 allows at most 15'),
    ],
)  # fmt: skip
def test_phone_number_messages(value: object, raw: str | None, message: str | None) -> None:
    found = check_phone_number(value, raw)
    if message is None:
        assert found is None
    else:
        assert found is not None and found.startswith(message)


def test_a_number_unassigned_today_but_possible_is_accepted() -> None:
    """is_possible_number, not is_valid_number: area code 999 is unassigned in the US."""
    assert check_phone_number("+19995550100", None) is None


def test_a_large_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    config = tmp_path / "huge.yaml"
    with config.open("wb") as stream:
        stream.truncate(DEFAULT_MAX_FILE_BYTES + 1)  # sparse: nothing is written to the disk
    with pytest.raises(ConfigError) as raised:
        load_config([config])
    assert str(raised.value) == (
        f"{config}:1:1: the file is 10,485,761 bytes, over the limit of 10,485,760 bytes "
        "(--max-file-size): it is not read"
    )


def test_nesting_is_capped_in_block_style_too(tmp_path: Path) -> None:
    config = tmp_path / "deep.yaml"
    lines = ["version: 1", "personas: []", "x:"]
    lines += ["  " * depth + f"k{depth}:" for depth in range(1, MAX_DEPTH + 10)]
    config.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as raised:
        load_config([config])
    assert f"nested more than {MAX_DEPTH} levels deep" in str(raised.value)


def test_a_large_valid_file_loads(tmp_path: Path) -> None:
    config = tmp_path / "large.yaml"
    numbers = "".join(f'      - "+1415{n:07d}"\n' for n in range(5000))
    config.write_text(f"version: 1\npersonas:\n  - name: Sales\n    numbers:\n{numbers}")
    desired = load_config([config])
    assert len(desired.personas[0].numbers) == 5000


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    config = tmp_path / "bom.yaml"
    config.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "personas.yaml").read_bytes())
    assert len(load_config([config]).personas) == 3


def test_windows_line_endings_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "crlf.yaml"
    config.write_bytes((EXAMPLES / "personas.yaml").read_bytes().replace(b"\n", b"\r\n"))
    assert len(load_config([config]).personas) == 3


def test_no_file_given() -> None:
    with pytest.raises(InputError, match="no config file given"):
        load_config([])


def test_the_cached_length_verdict_agrees_with_the_full_check() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        digits = str(rng.randint(1, 9)) + "".join(
            rng.choice("0123456789") for _ in range(rng.randint(0, 14))
        )
        number = "+" + digits
        assert _impossible_reason(number) == _impossible_reason_from_digits(number), number


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("+14155550100", True),
        ("+14155550100\n", False),  # "$" would let this through in Python's re
        ("+\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0660\u0660", False),  # "\d" too
        ("+0123", False),
    ],
)
def test_the_published_schema_pattern_is_strict_in_python_too(number: str, valid: bool) -> None:
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    document = {"version": 1, "personas": [{"name": "Sales", "numbers": [number]}]}
    assert validator.is_valid(document) is valid
