"""The redactor, and where the API key comes from, without the CLI."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from reconciler.errors import InputError
from reconciler.secrets import (
    MAX_KEY_FILE_BYTES,
    MIN_KEY_CHARS,
    REDACTOR,
    Redactor,
    api_key,
    key_file_from,
    redact_keys_named,
)
from tests.conftest import TEST_KEY

CANARY = TEST_KEY


def possible_keys(option: str | None, environ: dict[str, str]) -> set[str]:
    """What redact_keys_named hides, the redactor knowing nothing before (see conftest)."""
    redact_keys_named(["--api-key-file", option] if option else [], environ)
    return REDACTOR.secrets


@pytest.mark.parametrize(
    "escape", [lambda key: json.dumps(key), repr, html.escape, lambda key: html.escape(key, False)]
)
def test_escaped_copies_of_the_key_are_redacted(escape: Callable[[str], str]) -> None:
    key = 'sk-with"quote\\and-backslash'
    redactor = Redactor()
    redactor.add(key)
    assert redactor.clean(f"body: {escape(key)}") in ('body: "***"', "body: '***'", "body: ***")


def test_a_piece_of_the_key_html_escaped_in_an_api_message_is_redacted() -> None:
    key = 'org_live_Zq7*Xw3_[Lp9]|Mn4~Rt6!Vb2:$Kc8@Hs5#Jd1<Fg0>&Ty3`Nu7"Pe4Wa2'
    redactor = Redactor()
    redactor.add(key)
    cleaned = redactor.clean(f"Invalid API key {html.escape(key[40:60])}")
    assert cleaned == "Invalid API key ***"


def test_the_key_comes_from_the_environment_stripped() -> None:
    assert api_key(None, {"BLAND_API_KEY": f"  {CANARY}\n"}) == CANARY


def test_a_key_file_wins_over_the_environment(tmp_path: Path) -> None:
    option_file, env_file = tmp_path / "option.key", tmp_path / "env.key"
    option_file.write_text("sk-from-option\n")
    env_file.write_text("sk-from-env-file\n")
    environ = {"BLAND_API_KEY": "sk-from-env", "BLAND_API_KEY_FILE": str(env_file)}
    assert api_key(str(option_file), environ) == "sk-from-option"
    assert api_key(None, environ) == "sk-from-env-file"


def test_a_missing_key_names_every_source() -> None:
    with pytest.raises(InputError, match="BLAND_API_KEY is not set") as missing:
        api_key(None, {})
    assert "--api-key-file" in str(missing.value)
    assert "BLAND_API_KEY_FILE" in str(missing.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "is empty"), (b"\xff\xfe", "not UTF-8"), (b"k" * (MAX_KEY_FILE_BYTES + 1), "too large")],
)
def test_an_unusable_key_file_says_why_without_the_key(
    content: bytes, reason: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    with pytest.raises(InputError, match=reason):
        api_key(str(key_file), {})


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as missing:
        api_key(str(tmp_path / "key"), {"BLAND_API_KEY": CANARY})
    assert str(missing.value) == f"{tmp_path / 'key'}: no such API key file"


def test_a_key_that_cannot_be_a_header_names_its_source_not_the_key() -> None:
    with pytest.raises(InputError, match="the API key from BLAND_API_KEY contains") as refused:
        api_key(None, {"BLAND_API_KEY": f"{CANARY} x"})
    assert CANARY not in str(refused.value)


@pytest.mark.parametrize("key", ["a", "1", "e", "sk-1234"])
def test_a_key_too_short_to_be_a_key_is_refused_naming_its_source(key: str) -> None:
    """Hidden whole, a one-letter key would blot that letter out of every line printed."""
    assert len(key) < MIN_KEY_CHARS
    with pytest.raises(InputError) as refused:
        api_key(None, {"BLAND_API_KEY": key})
    assert str(refused.value) == (
        f"the API key from BLAND_API_KEY is {len(key)} characters long: an API key has at "
        f"least {MIN_KEY_CHARS}"
    )
    assert possible_keys(None, {"BLAND_API_KEY": key}) == set()


def test_possible_keys_read_only_regular_files(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(CANARY)
    assert possible_keys(str(key_file), {"BLAND_API_KEY": "sk-env-key"}) == {"sk-env-key", CANARY}
    REDACTOR.secrets = set()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert possible_keys(str(fifo), {}) == set()  # read once, when the key is needed
    assert possible_keys(str(tmp_path / "missing"), {}) == set()
    # No such file and no folder in it: the key itself, given where its file's path belongs.
    assert possible_keys(CANARY, {}) == {CANARY}


LONG_KEY = "org_live_" + "".join(f"{i:02d}x{chr(65 + i % 26)}" for i in range(18)) + "z"


def test_every_run_of_twelve_characters_of_the_key_is_hidden() -> None:
    redactor = Redactor()
    redactor.add(LONG_KEY)
    for start in range(len(LONG_KEY)):
        for end in range(start + 12, len(LONG_KEY) + 1):
            assert redactor.clean(f"<{LONG_KEY[start:end]}>") == "<***>", (start, end)


def test_a_run_of_eleven_characters_is_left_alone() -> None:
    redactor = Redactor()
    redactor.add(LONG_KEY)
    assert redactor.clean(f"<{LONG_KEY[5:16]}>") == f"<{LONG_KEY[5:16]}>"


def test_pieces_are_hidden_wherever_they_stand_and_however_many() -> None:
    redactor = Redactor()
    redactor.add(LONG_KEY)
    redactor.add(CANARY)
    text = (
        f'"{LONG_KEY[:36]}...(85 characters)" then {LONG_KEY}{LONG_KEY} and '
        f"{CANARY[4:20]}{LONG_KEY[-13:]}, {LONG_KEY[40:51]}."
    )
    assert redactor.clean(text) == (f'"***...(85 characters)" then *** and ***, {LONG_KEY[40:51]}.')


def test_a_key_shorter_than_twelve_characters_is_hidden_whole() -> None:
    redactor = Redactor()
    redactor.add("sk-short")
    assert redactor.clean("key sk-short, or sk-shor") == "key ***, or sk-shor"


def test_text_without_the_key_comes_back_as_it_was() -> None:
    redactor = Redactor()
    redactor.add(LONG_KEY)
    text = "\n".join(f"+1415{i:07d} Sales {LONG_KEY[i % 70 : i % 70 + 6]}" for i in range(5000))
    assert redactor.clean(text) == text


@pytest.mark.parametrize(
    ("option", "environ", "key_file"),
    [
        ("option.key", {"BLAND_API_KEY_FILE": "env.key"}, "option.key"),
        (None, {"BLAND_API_KEY_FILE": "env.key", "BLAND_API_KEY": CANARY}, "env.key"),
        (None, {"BLAND_API_KEY": CANARY}, None),
        (None, {"BLAND_API_KEY_FILE": ""}, None),
    ],
)
def test_the_key_file_in_use_is_the_options_then_the_environments(
    option: str | None, environ: dict[str, str], key_file: str | None
) -> None:
    """The file that is read, warned about when others can read it, and never overwritten."""
    assert key_file_from(option, environ) == key_file


def test_the_key_quoted_into_a_url_path_is_redacted() -> None:
    key = "sk-with*[brackets]|and~more"
    redactor = Redactor()
    redactor.add(key)
    path = f"/v1/personas/{quote(key, safe='')}/inbound/attach"
    assert redactor.clean(path) == "/v1/personas/***/inbound/attach"


def test_a_redactor_whose_secrets_are_replaced_forgets_the_old_ones() -> None:
    """The tests' seam: each test starts with an empty set of secrets."""
    redactor = Redactor()
    redactor.add(CANARY)
    assert redactor.clean(f"key {CANARY[:20]}") == "key ***"
    redactor.secrets = set()
    assert redactor.clean(f"key {CANARY[:20]}") == f"key {CANARY[:20]}"


def test_a_key_from_a_file_is_refused_naming_the_file_as_doctor_does(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("short\n")
    with pytest.raises(InputError) as refused:
        api_key(str(key_file), {})
    assert str(refused.value) == (
        f"the API key from the file {key_file} (--api-key-file) is 5 characters long: "
        f"an API key has at least {MIN_KEY_CHARS}"
    )
