"""Where the API key comes from, and what makes a key unusable, without ever showing it.

The key is read from BLAND_API_KEY, or from a file named by --api-key-file or BLAND_API_KEY_FILE:
never from the command line (process lists, shell history) nor from the config file (it is
committed). Messages here name where the key came from, never what it is.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import InputError

# A key is one short line; a larger file is not a key file (and /dev/zero must not hang). Pipes
# are welcome: `--api-key-file <(pass show bland)` keeps the key off the disk.
MAX_KEY_FILE_BYTES = 64 * 1024
# What an HTTP header value may hold without escaping; anything else would make httpx raise an
# error whose text shows the header, key included.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def key_file_from(option: str | None, environ: Mapping[str, str]) -> str | None:
    """The key file to read: --api-key-file, else BLAND_API_KEY_FILE, else none."""
    return option or environ.get("BLAND_API_KEY_FILE") or None


def read_key_file(key_file: str) -> str:
    """The key held in key_file, stripped of surrounding whitespace."""
    try:
        with Path(key_file).open("rb") as stream:
            content = stream.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise InputError(f"{key_file}: cannot read the API key file ({_reason(error)})") from None
    if len(content) > MAX_KEY_FILE_BYTES:
        raise InputError(f"{key_file}: too large for an API key file")
    try:
        key = content.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError(f"{key_file}: the API key file is not UTF-8 text") from None
    if not key:
        raise InputError(f"{key_file}: the API key file is empty")
    return key


def check_key(key: str, source: str) -> str:
    """The key, if it can be sent in a header; else an error that names source, not the key."""
    if not _HEADER_SAFE.fullmatch(key):
        raise InputError(
            f"the API key from {source} contains a space, a line break, a control or a "
            "non-ASCII character: an API key is one line of printable ASCII"
        )
    return key


def possible_keys(option: str | None, environ: Mapping[str, str]) -> list[str]:
    """Every value that may be the key, read without failing, so it is redacted from the start.

    Used before any command runs: even `validate`, which needs no key, must not print it (for
    instance when it was pasted into the config file by mistake).
    """
    keys = [environ.get("BLAND_API_KEY", "").strip()]
    key_file = key_file_from(option, environ)
    # Only a regular file is read ahead: a pipe can be read once, when the key is needed.
    if key_file and _is_regular_file(key_file):
        # A file that cannot be read is reported when the key is needed, not here.
        with contextlib.suppress(InputError):
            keys.append(read_key_file(key_file))
    return [key for key in keys if key]


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    return (error.strerror or type(error).__name__).lower()
