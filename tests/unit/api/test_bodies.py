"""Bodies of answers: sizes as people write them, JSON as read, and error bodies of every shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.api.bodies import (
    DEFAULT_MAX_RESPONSE_BYTES,
    error_from_response,
    parse_retry_after,
    parse_size,
    shown_size,
    success_payload,
)
from reconciler.errors import ApiError, AuthError, InputError


@pytest.mark.parametrize(
    "text, size",
    [
        ("1048576", 1024**2),
        ("512M", 512 * 1024**2),
        ("512m", 512 * 1024**2),
        (" 512 MiB ", 512 * 1024**2),
        ("2048K", 2 * 1024**2),
        ("2kb", None),
        ("1G", 1024**3),
        ("1GB", 1024**3),
    ],
)
def test_sizes_in_bytes_or_with_a_binary_suffix(text: str, size: int | None) -> None:
    if size is None:
        with pytest.raises(InputError, match="less than the least allowed"):
            parse_size(text, "--max-response-size")
    else:
        assert parse_size(text, "--max-response-size") == size


@pytest.mark.parametrize("text", ["", "big", "1.5G", "-1M", "1T", "12 34", "0x100000", "1e9"])
def test_what_is_not_a_size_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_size(text, "BLAND_MAX_RESPONSE_SIZE")
    message = str(raised.value)
    assert message.startswith(f"BLAND_MAX_RESPONSE_SIZE {text!r} is not a size")
    assert "\n" not in message


@pytest.mark.parametrize("text", ["0", "512", "1023K"])
def test_a_size_too_small_for_any_answer_is_refused(text: str) -> None:
    with pytest.raises(InputError, match=r"less than the least allowed \(1M\): sizes are in bytes"):
        parse_size(text, "--max-response-size")


def test_sizes_are_shown_in_mib_when_whole() -> None:
    assert shown_size(DEFAULT_MAX_RESPONSE_BYTES) == "512 MiB"
    assert shown_size(1024**2 + 1) == "1,048,577 bytes"
    assert shown_size(2 * 1024**3) == "2 GiB"


def test_parse_retry_after_in_both_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_parse_retry_after_ignores_blanks_and_counts_a_past_date_as_no_wait() -> None:
    assert parse_retry_after("  ") is None
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412500.0) == 0.0


Answer = tuple[httpx.Response, bytearray]


def answer(status: int, body: Any = None, *, text: str | None = None, **headers: str) -> Answer:
    """An answer and its body, as the transport reads them."""
    if text is not None:
        response = httpx.Response(status, text=text, headers=headers)
    else:
        response = httpx.Response(status, json=body, headers=headers)
    return response, bytearray(response.content)


ERROR_BODIES = {
    "envelope array": (
        {"errors": [{"error": "INVALID_INBOUND_NUMBERS", "message": "not yours"}]},
        "INVALID_INBOUND_NUMBERS",
        "not yours",
    ),
    "envelope array with code": (
        {"errors": [{"code": "E_GONE", "message": "gone"}]},
        "E_GONE",
        "gone",
    ),
    "envelope array of strings": ({"errors": ["first", "second"]}, None, "first"),
    "envelope array, message elsewhere": (
        {"errors": [{"error": "CODE_ONLY"}], "message": "told apart"},
        "CODE_ONLY",
        "told apart",
    ),
    "envelope string": (
        {"errors": "PERSONA_NOT_FOUND: Persona not found"},
        "PERSONA_NOT_FOUND",
        "Persona not found",
    ),
    "envelope string without a code": ({"errors": "it broke"}, None, "it broke"),
    "empty envelope, bare error": ({"errors": [], "error": "nope"}, None, "nope"),
    "legacy status": ({"status": "error", "message": "Bad things"}, None, "Bad things"),
    "bare error": ({"error": "Phone number not found"}, None, "Phone number not found"),
    "bare error wins over message": ({"error": "first", "message": "second"}, None, "first"),
    "JSON without a message": (
        {"status": "error"},
        None,
        "unexpected error body (application/json)",
    ),
    "JSON that is not an object": ([1, 2], None, "unexpected error body (application/json)"),
}


@pytest.mark.parametrize(
    "body, code, message", ERROR_BODIES.values(), ids=list(ERROR_BODIES.keys())
)
def test_error_bodies_of_every_shape(body: Any, code: str | None, message: str) -> None:
    error = error_from_response(*answer(400, body), "GET", "/v1/personas/p1")
    assert type(error) is ApiError
    assert (error.status, error.code, error.api_message) == (400, code, message)
    assert (error.method, error.path) == ("GET", "/v1/personas/p1")


def test_a_body_that_is_not_json_is_named_by_its_content_type() -> None:
    html = answer(
        502, text="<html>bad gateway</html>", **{"content-type": "text/html; charset=utf-8"}
    )
    assert error_from_response(*html, "GET", "/").api_message == "non-JSON body (text/html)"
    assert (
        error_from_response(httpx.Response(502), bytearray(), "GET", "/").api_message
        == "non-JSON body (no content type)"
    )


def test_retry_after_is_carried_on_the_error() -> None:
    limited = answer(429, {"status": "error"}, **{"retry-after": "7"})
    assert error_from_response(*limited, "POST", "/").retry_after == 7.0
    assert error_from_response(*answer(503, {}), "POST", "/").retry_after is None


@pytest.mark.parametrize(
    "status, hint",
    [
        (401, "the API key was rejected: check BLAND_API_KEY"),
        (403, "the API key lacks permission for this call"),
    ],
)
def test_401_and_403_are_auth_errors_with_a_hint(status: int, hint: str) -> None:
    body = {"errors": [{"error": "AUTH_FAILURE", "message": "bad key"}]}
    error = error_from_response(*answer(status, body), "GET", "/v1/inbound")
    assert isinstance(error, AuthError)
    assert error.code == "AUTH_FAILURE"
    assert error.api_message == f"bad key ({hint})"


def test_a_403_persona_not_found_is_that_personas_answer_not_a_key_refused() -> None:
    # The docs word PERSONA_NOT_FOUND "not found or access denied", status unknown.
    body = {"errors": [{"error": "PERSONA_NOT_FOUND", "message": "Persona not found"}]}
    error = error_from_response(*answer(403, body), "GET", "/v1/personas/p1")
    assert type(error) is ApiError
    assert (error.status, error.code) == (403, "PERSONA_NOT_FOUND")
    unauthorised = error_from_response(*answer(401, body), "GET", "/v1/personas/p1")
    assert isinstance(unauthorised, AuthError)


@pytest.mark.parametrize("errors", [None, [], ""])
def test_a_success_payload_with_an_empty_envelope_is_returned_as_is(errors: Any) -> None:
    body = {"data": {"id": "p1"}, "errors": errors}
    assert success_payload(*answer(200, body), "GET", "/") == body


def test_a_success_payload_with_errors_or_no_json_is_an_error() -> None:
    with pytest.raises(ApiError, match="HTTP 200 SOMETHING: went wrong"):
        success_payload(*answer(200, {"errors": "SOMETHING: went wrong"}), "GET", "/")
    with pytest.raises(
        ApiError, match="HTTP 201: the API answered 2xx with a body that is not JSON"
    ):
        success_payload(*answer(201, text="ok"), "POST", "/")


def test_a_body_nested_too_deep_to_parse_is_not_json() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ApiError, match="a body that is not JSON"):
        success_payload(*answer(200, text=deep), "GET", "/")
    error = error_from_response(*answer(500, text=deep), "GET", "/")
    assert "non-JSON body" in str(error)


def test_lone_surrogates_in_an_answer_become_replacement_characters() -> None:
    # Valid JSON, but no UTF-8 can hold it: a label cut at 150 UTF-16 units, mid emoji.
    text = '{"data": {"id": "p1", "name": "A\\ud83d", "x\\uDFFF": ["\\ud800b"]}}'
    payload = success_payload(*answer(200, text=text), "GET", "/")
    assert payload == {"data": {"id": "p1", "name": "A\ufffd", "x\ufffd": ["\ufffdb"]}}
    pair = '{"name": "\\ud83d\\ude00"}'  # a whole pair is one character and stays
    assert success_payload(*answer(200, text=pair), "GET", "/") == {"name": "\U0001f600"}
