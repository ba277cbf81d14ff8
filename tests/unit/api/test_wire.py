"""Parsing of the API's answers and error bodies, without a client."""

from __future__ import annotations

from reconciler.api.wire import parse_retry_after


def test_parse_retry_after_in_both_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
