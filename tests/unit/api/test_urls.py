"""The base URL check: https, or plain http to a loopback address only."""

from __future__ import annotations

import pytest

from reconciler.api.urls import check_base_url
from reconciler.errors import InputError


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://api.bland.ai", True),
        ("http://127.0.0.1:8765", True),
        ("http://127.5.0.1:8765", True),
        ("http://localhost:8765/", True),
        ("http://[::1]:8765", True),
        ("http://api.bland.ai", False),
        ("http://10.0.0.1", False),
        ("ftp://api.bland.ai", False),
    ],
)
def test_base_url_must_be_https_unless_loopback(url: str, ok: bool) -> None:
    if ok:
        assert check_base_url(url) == url.rstrip("/")
    else:
        with pytest.raises(InputError):
            check_base_url(url)
