"""Phone numbers: the messages for what is not canonical E.164, and the suggested fixes."""

from __future__ import annotations

import pytest

from reconciler.config.phone import check_phone_number, suggest_e164


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
        (14155550100, "0014155550100", f'0014155550100 {UNQUOTED} as "+14155550100"'),
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


def test_a_possible_number_does_not_vouch_for_another_length() -> None:
    assert check_phone_number("+14155550100", None) is None
    assert check_phone_number("+14155550100", None) is None  # from the length cache
    assert check_phone_number("+141555501001", None) is not None
    assert check_phone_number("+1415555010", None) is not None


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("+999123456", "+999123456 has no valid country code"),
        ("+44", "+44 has a country code but no subscriber number"),
        ("+4400", "+4400 is not a possible phone number"),
        ("+44020", "+44020 is not a possible phone number for country code +44 (wrong length)"),
        ("+12", "+12 is not a possible phone number for country code +1 (wrong length)"),
        ("+4402079460958", None),
        ("+390612345678", None),
    ],
)
def test_each_impossible_number_says_why(number: str, reason: str | None) -> None:
    assert check_phone_number(number, None) == reason
