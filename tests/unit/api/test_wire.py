"""Parsing of the API's answers, without a client: numbers as the API spells them, personas,
the inbound list, and the live account built from them."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.wire import (
    build_live,
    canonical_number,
    inbound_from_answer,
    persona_from_answer,
    personas_from_page,
)
from reconciler.errors import ApiError
from reconciler.model import Live, LivePersona, routing_settings


def test_a_persona_object_becomes_a_live_persona() -> None:
    item = {
        "id": 7,
        "name": None,
        "deleted_at": "",
        "inbound_numbers": [{"phone_number": " +14155550100 ", "label": None}, "+14155550101"],
    }
    assert personas_from_page({"data": [item]}, 1) == [
        LivePersona(
            id="7",
            name="",
            numbers=frozenset({"+14155550100", "+14155550101"}),
            deleted=False,
            labels={"+14155550100": None},  # shown as none; the bare string shows nothing
        )
    ]
    deleted = {"id": "p2", "deleted_at": "2026-01-01T00:00:00Z", "inbound_numbers": []}
    assert persona_from_answer({"data": deleted}, "GET", "/v1/personas/p2").deleted


def test_one_persona_answer_is_read_from_its_data() -> None:
    answer = {"data": {"id": "p1", "inbound_numbers": []}}
    assert persona_from_answer(answer, "GET", "/v1/personas/p1").id == "p1"
    with pytest.raises(
        ApiError, match=r"^POST /v1/personas/p1/inbound/attach: malformed answer: `data` is null"
    ):
        persona_from_answer([{"id": "p1"}], "POST", "/v1/personas/p1/inbound/attach")


@pytest.mark.parametrize("spelled", ["+1 415 5550100", "14155550100", " +1 (415) 555-0100"])
def test_a_persona_s_numbers_are_read_as_canonical_e164_keeping_their_spelling(
    spelled: str,
) -> None:
    entry = {"phone_number": spelled, "label": "Main", "persona_settings": {"pathway_id": "pw"}}
    persona = persona_from_answer({"data": {"id": "p1", "inbound_numbers": [entry]}}, "GET", "/")

    assert persona.numbers == {"+14155550100"}
    assert persona.spellings == {spelled.strip(): "+14155550100"}
    assert persona.label_of("+14155550100") == "Main"
    assert persona.settings_of("+14155550100") == routing_settings({"pathway_id": "pw"})


def test_two_spellings_of_one_number_on_a_persona_are_one_number() -> None:
    item = {"id": "p1", "inbound_numbers": ["+14155550100", "+1 415 5550100"]}
    persona = personas_from_page([item], 1)[0]
    assert persona.numbers == {"+14155550100"}
    assert persona.spellings == {"+1 415 5550100": "+14155550100"}


@pytest.mark.parametrize("unreadable", ["call me", "+1 415 555 01OO", "+0 415", "415-555-0100 x12"])
def test_a_spelling_that_is_no_phone_number_is_kept_out_of_the_persona_s_numbers(
    unreadable: str,
) -> None:
    entry = {"phone_number": unreadable, "persona_settings": {"pathway_id": "pw"}}
    item = {"id": "p1", "inbound_numbers": [entry, "+14155550101"]}
    persona = personas_from_page([item], 1)[0]

    assert persona.numbers == {"+14155550101"}
    assert persona.spellings == {unreadable: ""}
    assert persona.settings == {}


def test_a_page_of_personas_is_its_data_or_a_bare_list() -> None:
    page = [{"id": "a", "inbound_numbers": []}, {"id": "b", "inbound_numbers": []}]
    assert [p.id for p in personas_from_page({"data": page}, 1)] == ["a", "b"]
    assert [p.id for p in personas_from_page(page[:1], 1)] == ["a"]


def persona(**fields: Any) -> dict[str, Any]:
    return {"id": "p1", "name": "One", "deleted_at": None, "inbound_numbers": [], **fields}


# Each answer below was read wrongly, or in part, by a lenient reading: a string's characters
# taken for numbers, integers and unreadable entries dropped. Each is refused instead.
MALFORMED_PAGES = {
    "numbers as one string": (
        {"data": [persona(inbound_numbers="+14155550100,+14155550101")]},
        "page 2: persona p1: `inbound_numbers` is a string, not a list",
    ),
    "a number as an integer": (
        {"data": [persona(inbound_numbers=[14155550100])]},
        "page 2: persona p1: inbound_numbers[0] is a number (14155550100), not a phone number",
    ),
    "an object's number as an integer": (
        {"data": [persona(inbound_numbers=[{"phone_number": 14155550100}])]},
        "inbound_numbers[0] is an object whose `phone_number` is a number (14155550100)",
    ),
    "an object without a number": (
        {"data": [persona(inbound_numbers=["+14155550100", {"label": "x"}])]},
        "inbound_numbers[1] is an object whose `phone_number` is null",
    ),
    "an empty number": (
        {"data": [persona(inbound_numbers=["  "])]},
        "inbound_numbers[0] is an empty phone number",
    ),
    "a null entry": (
        {"data": [persona(inbound_numbers=[None])]},
        "inbound_numbers[0] is null, not a phone number string",
    ),
    "numbers missing": (
        {"data": [{"id": "p1", "name": "One"}]},
        "persona p1: `inbound_numbers` is null, not a list",
    ),
    "numbers as an object": (
        {"data": [persona(inbound_numbers={"+14155550100": {}})]},
        "persona p1: `inbound_numbers` is an object, not a list",
    ),
    "data not a list": (
        {"data": {"p1": persona()}},
        "page 2: `data` is an object, not a list of personas",
    ),
    "data missing": ({"personas": []}, "page 2: `data` is null, not a list of personas"),
    "a body that is text": ("text", "page 2: the body is a string, not a list of personas"),
    "a persona without id": (
        {"data": [persona(), {"name": "no id", "inbound_numbers": []}]},
        "page 2: data[1] has no `id`",
    ),
    "an empty id": ({"data": [persona(id="")]}, 'page 2: persona "One" has the id "", an id'),
    "an id that is an object": (
        {"data": [persona(id={"uuid": "p1"})]},
        "page 2: data[0]: `id` is an object, not an id",
    ),
    "a persona that is a string": ({"data": ["p1"]}, "page 2: data[0] is a string, not a persona"),
}


@pytest.mark.parametrize(
    "payload, what", MALFORMED_PAGES.values(), ids=list(MALFORMED_PAGES.keys())
)
def test_a_malformed_page_is_refused_naming_the_endpoint_and_the_fault(
    payload: Any, what: str
) -> None:
    with pytest.raises(ApiError) as raised:
        personas_from_page(payload, 2)
    message = str(raised.value)
    assert message.startswith("GET /v1/personas: malformed answer: ")
    assert what in message
    assert message.endswith("refusing to act on it")


def test_a_persona_id_from_the_api_is_shown_safely_in_an_error() -> None:
    page = {"data": [persona(id="p1\x1b[2J" + "x" * 100, inbound_numbers="+1")]}
    with pytest.raises(ApiError) as raised:
        personas_from_page(page, 1)
    message = str(raised.value)
    assert "\x1b" not in message and "p1\\u001b[2J" in message
    assert "x" * 60 not in message


def test_the_inbound_list_in_each_shape_with_its_owners() -> None:
    entries = [
        {"phone_number": "+14155550100", "persona_id": "p1"},
        {"phone_number": " +14155550101 ", "persona_id": ""},
        "+14155550102",
        {"phone_number": "+14155550103", "persona_id": 7},
    ]
    expected = {
        "+14155550100": "p1",
        "+14155550101": None,
        "+14155550102": None,
        "+14155550103": "7",
    }
    assert inbound_from_answer({"inbound_numbers": entries}) == expected
    assert inbound_from_answer({"data": entries}) == expected
    assert inbound_from_answer(entries) == expected


MALFORMED_INBOUND = {
    # The legacy key wins even when it holds nothing usable.
    "legacy key null": (
        {"inbound_numbers": None, "data": []},
        "the list of inbound numbers is null, not a list",
    ),
    "numbers as one string": (
        {"inbound_numbers": "+14155550100,+14155550101"},
        "the list of inbound numbers is a string, not a list",
    ),
    "a body that is text": ("text", "the body is a string, not a list"),
    "a number as an integer": (
        {"inbound_numbers": [{"phone_number": "+14155550100"}, {"phone_number": 14155550101}]},
        "entry 1 is an object whose `phone_number` is a number (14155550101)",
    ),
    "a bare integer": ({"inbound_numbers": [14155550100]}, "entry 0 is a number (14155550100)"),
    "an empty number": ({"inbound_numbers": [{"phone_number": ""}]}, "entry 0 is an empty"),
    "an owner that is an object": (
        {"inbound_numbers": [{"phone_number": "+14155550100", "persona_id": {"id": "p1"}}]},
        "+14155550100: `persona_id` is an object, not an id",
    ),
}


@pytest.mark.parametrize(
    "payload, what", MALFORMED_INBOUND.values(), ids=list(MALFORMED_INBOUND.keys())
)
def test_a_malformed_inbound_list_is_refused_naming_the_endpoint_and_the_fault(
    payload: Any, what: str
) -> None:
    with pytest.raises(ApiError) as raised:
        inbound_from_answer(payload)
    message = str(raised.value)
    assert message.startswith("GET /v1/inbound: malformed answer: ")
    assert what in message


def test_the_live_account_keeps_only_the_owners_the_api_names() -> None:
    persona = LivePersona(id="p1", name="One", numbers=frozenset({"+14155550100"}))
    live = build_live({"p1": persona}, 3, {"+14155550100": "p1", "+14155550101": None})
    assert live == Live(
        personas={"p1": persona},
        account_numbers=frozenset({"+14155550100", "+14155550101"}),
        pages_read=3,
        reads=4,  # the three pages and GET /v1/inbound
        inbound_owners={"+14155550100": "p1"},
    )


UNSAFE_IDS = [
    ".",
    "..",
    "a/b",
    "../inbound",
    "a\\b",
    "a?b",
    "a#b",
    "a%2e",
    "a\nb",
    "a\x00",
    "\x7f",
    "a\x85",
]
SAFE_IDS = ["p-1", "...", "a.b", "a b", "Ünïcode-日本", "+14155550100", "7"]


@pytest.mark.parametrize("unsafe", UNSAFE_IDS)
def test_a_persona_id_unsafe_in_a_path_is_refused_naming_the_persona(unsafe: str) -> None:
    page = {"data": [persona(id="p-1"), persona(id=unsafe, name="Night shift")]}
    with pytest.raises(ApiError) as raised:
        personas_from_page(page, 1)
    assert str(raised.value).startswith(
        'GET /v1/personas: malformed answer: page 1: persona "Night shift" has the id "'
    )
    assert "an id that is empty, . or .., or holds / \\ ? # % or a control character" in str(
        raised.value
    )
    with pytest.raises(ApiError, match="has the id"):
        persona_from_answer({"data": persona(id=unsafe)}, "POST", "/v1/personas/x/inbound/attach")


@pytest.mark.parametrize("unsafe", UNSAFE_IDS)
def test_an_owner_id_unsafe_in_a_path_is_refused_naming_the_number(unsafe: str) -> None:
    with pytest.raises(ApiError) as raised:
        inbound_from_answer([{"phone_number": "+14155550100", "persona_id": unsafe}])
    assert str(raised.value).startswith(
        'GET /v1/inbound: malformed answer: +14155550100: `persona_id` is "'
    )


@pytest.mark.parametrize("safe", SAFE_IDS)
def test_an_id_safe_in_a_path_is_read(safe: str) -> None:
    assert [p.id for p in personas_from_page([persona(id=safe)], 1)] == [safe]
    assert inbound_from_answer([{"phone_number": "+1", "persona_id": safe}]) == {"+1": safe}


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("+14155550100", "+14155550100"),
        ("+1 415 5550100", "+14155550100"),
        ("+1 415 555 0100", "+14155550100"),
        ("14155550100", "+14155550100"),
        (" +1 (415) 555-0100 ", "+14155550100"),
        ("+1.415.555.0100", "+14155550100"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("442079460958", "+442079460958"),
        # What cannot be read: guessing could name another number.
        ("call me", None),
        ("", None),
        ("+1", "+1"),  # E.164's shape is taken as it is, as before spellings were read
        ("+0 415 555 0100", None),
        ("+1 415", None),
        ("+1 415 555 01OO", None),  # letters O for zeros
        ("1-800-FLOWERS", None),  # letters are not dialled digits here
        ("+1 415 555 0100 x12", None),  # an extension
        ("+1 415 555 0100 999999", None),  # too long to exist
        ("\uff0b\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10", None),
    ],
)
def test_a_spelling_reads_as_canonical_e164_or_as_none(
    spelling: str, canonical: str | None
) -> None:
    assert canonical_number(spelling) == canonical


def test_the_live_account_reads_each_inbound_spelling_as_its_number() -> None:
    persona = LivePersona("p1", "One", frozenset({"+14155550100"}))
    inbound: dict[str, str | None] = {
        "+1 415 5550100": "p1",
        "14155550101": None,
        "+14155550102": "p2",
        "call me": "p3",
    }
    live = build_live({"p1": persona}, 1, inbound)

    assert live.account_numbers == {"+14155550100", "+14155550101", "+14155550102"}
    assert live.inbound_owners == {"+14155550100": "p1", "+14155550102": "p2"}
    # Only the spellings that are not canonical: a large account spells nearly every number so.
    assert live.spellings == {
        "+1 415 5550100": "+14155550100",
        "14155550101": "+14155550101",
        "call me": "",
    }


def test_two_inbound_spellings_of_one_number_are_one_number() -> None:
    live = build_live({}, 1, {"+14155550100": None, "+1 415 5550100": "p1"})
    assert live.account_numbers == {"+14155550100"}
    assert live.inbound_owners == {"+14155550100": "p1"}
