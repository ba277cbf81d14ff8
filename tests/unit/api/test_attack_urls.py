"""Attacks on BLAND_API_URL's check: spellings of a versioned or unusable base URL, and the
legitimate base URLs it must keep."""

from __future__ import annotations

import pytest

from reconciler.api.urls import check_base_url
from reconciler.errors import InputError


@pytest.mark.parametrize(
    "url",
    [
        "https://api.bland.ai/v1/",
        "https://api.bland.ai/V1",
        "https://api.bland.ai/v2//",
        "https://api.bland.ai/api/v1",
        "HTTPS://API.BLAND.AI/v1",
        "http://127.0.0.1:8080/v1/",
    ],
)
def test_every_spelling_of_a_versioned_base_url_is_refused(url: str) -> None:
    with pytest.raises(InputError, match=r"ends in /[vV]"):
        check_base_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.bland.ai",
        "https://api.bland.ai/",
        "https://v1.example",
        "https://proxy.example/v1beta",
        "https://proxy.example/bland-v1",
        "https://proxy.example/v1/bland",
        "http://127.0.0.1:8080",
    ],
)
def test_a_legitimate_base_url_is_kept(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")


# Each is accepted, yet httpx sends every request somewhere else than <base>/v1/personas: to
# /v1/v1/personas (the fragment is dropped, `.` removed, %76%31 decoded by the server), or, for
# a query string, to the base's own path with `/v1/personas` glued onto the query.
@pytest.mark.parametrize(
    "url",
    [
        "https://api.bland.ai?key=1",
        "https://api.bland.ai/v1?x=1",
        "https://api.bland.ai/v1/?x=1",
        "https://api.bland.ai/v1#top",
        "https://api.bland.ai/v1/.",
        "https://api.bland.ai/%76%31",
    ],
)
def test_a_base_url_that_sends_requests_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(InputError):
        check_base_url(url)
