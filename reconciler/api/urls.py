"""Where requests go: the base URL (https, or plain http to loopback only), endpoint paths, and
what a connection to the base URL that fails says."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import ssl
from urllib.parse import quote, unquote, urlsplit

import httpx

from reconciler.errors import InputError
from reconciler.text import shown

DEFAULT_BASE_URL = "https://api.bland.ai"
PERSONAS_PATH = "/v1/personas"
INBOUND_PATH = "/v1/inbound"
AGENTS_PATH = "/v2/agents"
# The label endpoint is documented without the /v1 prefix every other endpoint has.
LABEL_PATH = "/inbound/update_label"


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash; refuse plain http to a non-loopback host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it checks it: a port that is not a number raises)
        sent = httpx.URL(url)
        # What is checked here must be where the request goes: urlsplit drops a leading space
        # that httpx keeps, and they read some brackets and `@`s apart.
        host = (parts.hostname or "").encode("idna").decode("ascii")
        if (sent.scheme, sent.raw_host.decode("ascii").lower()) != (parts.scheme, host.lower()):
            raise ValueError(f"read as {sent.scheme or 'no'} scheme and host {sent.host!r}")
    except (ValueError, httpx.InvalidURL) as error:
        raise InputError(f"BLAND_API_URL {url!r} is not a valid URL ({error})") from None
    base = url.rstrip("/")
    version = base.rsplit("/", 1)[-1]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "is not an http(s) URL"
    elif parts.scheme == "http" and not is_loopback(parts.hostname):
        problem = (
            "uses plain http to a remote host: use https "
            "(plain http is allowed only for loopback addresses)"
        )
    elif "?" in url or "#" in url:
        # Each request appends its path to the base: after a query or a fragment, it is no path.
        problem = "has a query or a fragment: give the base URL alone (scheme, host and port)"
    elif unquote(parts.path) != parts.path or {".", ".."} & set(parts.path.split("/")):
        problem = (
            "has an escaped or dot segment in its path: give the base URL as it is "
            "(for example https://api.bland.ai)"
        )
    elif parts.path.rstrip("/") and version.lower() in ("v1", "v2"):
        # Every path already starts with its version: /v1/v1/personas would answer 404.
        problem = (
            f"ends in /{version}: give the base URL without it "
            f"({base.removesuffix('/' + version)}); each request adds its own /v1 or /v2"
        )
    else:
        return base
    raise InputError(f"BLAND_API_URL {url!r} {problem}")


def unproxied_mounts(base_url: str) -> dict[str, None]:
    """httpx mounts ("no proxy") that keep a loopback base URL off the environment's proxies,
    which would get every request, the key in its header, in clear text for plain http; other
    hosts keep them (a corporate proxy in front of https://api.bland.ai)."""
    host = urlsplit(base_url).hostname or ""
    if not is_loopback(host):
        return {}
    return {f"all://{f'[{host}]' if ':' in host else host}": None}


def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once for each SSL_CERT_FILE and SSL_CERT_DIR (which
    httpx reads): loading the CA bundle costs more than all the rest of a new client."""
    return _tls_contexts(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


_tls_contexts = functools.cache(lambda cert_file, cert_dir: httpx.create_ssl_context())


def is_loopback(host: str) -> bool:
    """localhost, or an address of the loopback range (127.0.0.0/8, ::1)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# What no quoting makes safe in a path segment: httpx removes dot segments (an attach for
# persona `..` went out as POST /v1/inbound/attach), and a separator, a query or fragment start,
# an escape or a control character could send a request elsewhere.
_UNSAFE_IN_PATH = re.compile(r"[/\\?#%\x00-\x1f\x7f-\x9f]")
UNSAFE_ID = "an id that is empty, . or .., or holds / \\ ? # % or a control character"


def unsafe_id(value: str) -> str | None:
    """Why a value cannot be sent safely as one segment of a request path; None if it can."""
    found = _UNSAFE_IN_PATH.search(value)
    if value in ("", ".", ".."):
        return "it is empty" if not value else f'it is "{value}"'
    return f'it holds "{shown(found.group())}"' if found is not None else None


def path_segment(value: str, what: str) -> str:
    """`value` quoted as one segment of a URL path; InputError, before anything is sent, for a
    value no quoting makes safe (see unsafe_id)."""
    why = unsafe_id(value)
    if why is not None:
        raise InputError(f'{what} "{shown(value)}" cannot be sent in a request path: {why}')
    return quote(value, safe="")


def persona_path(persona_id: str, *rest: str) -> str:
    """The path of one persona (a twin's too), or of what follows it: `inbound/attach`, or a
    number's settings as persona_path(id, "inbound", path_segment(number, ...), "settings")."""
    return "/".join([PERSONAS_PATH, path_segment(persona_id, "persona id"), *rest])


def agent_path(agent_id: str, *rest: str) -> str:
    """The path of one agent, or of what follows it: `inbound` (its twin), `inbound/attach`."""
    return "/".join([AGENTS_PATH, path_segment(agent_id, "agent id"), *rest])


def inbound_number_path(number: str) -> str:
    """The path of one inbound number; its `+` is sent as %2B."""
    return f"{INBOUND_PATH}/{path_segment(number, 'phone number')}"


def cannot_connect(error: httpx.TransportError, base_url: str) -> str:
    """Why a connection to the base URL failed, naming the host and port it tried."""
    url = httpx.URL(base_url)
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    # "[Errno 111] Connection refused" -> "connection refused"
    reason = " ".join(re.sub(r"^\[Errno -?\d+\]\s*", "", str(error)).split())[:200]
    if not reason:
        reason = "timed out" if isinstance(error, httpx.ConnectTimeout) else "failed"
    return f"cannot connect to {host}:{port}: {reason[0].lower()}{reason[1:]}"
