"""The base URL check (https, or plain http to loopback only) and the paths ids are quoted into."""

from __future__ import annotations

import ssl

import certifi
import pytest

from reconciler.api.urls import (
    DEFAULT_BASE_URL,
    check_base_url,
    persona_path,
    tls_context,
    unproxied_mounts,
)
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


@pytest.mark.parametrize(
    "url, base, version",
    [
        ("https://api.bland.ai/v1", "https://api.bland.ai", "v1"),
        ("https://api.bland.ai/v1/", "https://api.bland.ai", "v1"),
        ("https://api.bland.ai/v2", "https://api.bland.ai", "v2"),
        ("https://api.bland.ai/V1", "https://api.bland.ai", "V1"),
        ("https://proxy.example/bland/v1", "https://proxy.example/bland", "v1"),
        ("http://127.0.0.1:8765/v1", "http://127.0.0.1:8765", "v1"),
    ],
)
def test_a_base_url_ending_in_the_api_version_is_refused(url: str, base: str, version: str) -> None:
    with pytest.raises(InputError) as raised:
        check_base_url(url)
    assert str(raised.value) == (
        f"BLAND_API_URL {url!r} ends in /{version}: give the base URL without it ({base}); "
        "each request adds its own /v1 or /v2"
    )


@pytest.mark.parametrize(
    "url", ["https://proxy.example/v1x", "https://proxy.example/api/v10", "https://v1.example"]
)
def test_a_base_url_with_other_paths_is_kept(url: str) -> None:
    assert check_base_url(url) == url


def test_a_url_without_a_host_is_not_a_base_url() -> None:
    with pytest.raises(InputError, match="is not an http\\(s\\) URL"):
        check_base_url("https://")
    with pytest.raises(InputError, match="uses plain http to a remote host"):
        check_base_url("http://api.bland.ai")


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1:abc", "Port could not be cast to integer value as 'abc'"),
        ("http://127.0.0.1:99999", "Port out of range 0-65535"),
        ("https://[::1", "Invalid IPv6 URL"),
        ("https://api.bland.ai:-1", "Port could not be cast to integer value as '-1'"),
    ],
)
def test_a_url_that_does_not_parse_is_one_clean_error(url: str, reason: str) -> None:
    with pytest.raises(InputError) as refused:
        check_base_url(url)
    assert str(refused.value) == f"BLAND_API_URL {url!r} is not a valid URL ({reason})"


@pytest.mark.parametrize(
    "url, mounts",
    [
        ("http://127.0.0.1:8765", {"all://127.0.0.1": None}),
        ("https://127.8.9.10", {"all://127.8.9.10": None}),
        ("http://LocalHost:1/", {"all://localhost": None}),
        ("http://[::1]:8765", {"all://[::1]": None}),
        ("https://api.bland.ai", {}),
        ("https://10.0.0.1", {}),
    ],
)
def test_only_loopback_is_kept_off_the_proxies(url: str, mounts: dict[str, None]) -> None:
    assert unproxied_mounts(url) == mounts


def test_the_default_base_url_passes_its_own_check() -> None:
    assert check_base_url(DEFAULT_BASE_URL) == DEFAULT_BASE_URL


@pytest.mark.parametrize(
    "persona_id, path",
    [
        ("p1", "/v1/personas/p1"),
        ("ü d", "/v1/personas/%C3%BC%20d"),
        ("a=b&c", "/v1/personas/a%3Db%26c"),
    ],
)
def test_a_persona_id_is_quoted_whole_into_its_path(persona_id: str, path: str) -> None:
    assert persona_path(persona_id) == path
    assert persona_path(persona_id, "inbound", "detach") == f"{path}/inbound/detach"


@pytest.mark.parametrize(
    ("persona_id", "why"),
    [
        ("", "it is empty"),
        ("..", 'it is ".."'),
        ("a/b", 'it holds "/"'),
        ("x?y=1#z", 'it holds "?"'),
        ("a%2Fb", 'it holds "%"'),
    ],
)
def test_an_id_no_quoting_makes_safe_is_refused_before_any_path_is_built(
    persona_id: str, why: str
) -> None:
    with pytest.raises(InputError, match=f"cannot be sent in a request path: {why}"):
        persona_path(persona_id)


@pytest.mark.parametrize(
    "url",
    [
        " http://127.0.0.1:8765",  # urlsplit drops the space; httpx sees no scheme
        "\thttps://api.bland.ai",
        "http://[::1]@[127.0.0.1",  # urlsplit: host 127.0.0.1; httpx: host "[127.0.0.1"
        "http://[::1]@]127.0.0.1",
    ],
)
def test_a_url_read_two_ways_is_refused(url: str) -> None:
    """The check and the request must agree on the scheme and host: a host that is loopback to
    the check only would get plain http, through any proxy the environment names."""
    with pytest.raises(InputError) as refused:
        check_base_url(url)
    assert str(refused.value).startswith(f"BLAND_API_URL {url!r} is not a valid URL (")


def test_the_tls_context_is_made_once_for_each_ca_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    default = tls_context()
    assert tls_context() is default
    assert default.verify_mode == ssl.CERT_REQUIRED and default.check_hostname
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    assert tls_context() is not default
