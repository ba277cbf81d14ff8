"""Where the API key comes from, what makes a key unusable, and the redactor that hides it.

The key is read from BLAND_API_KEY, or from a file named by --api-key-file or BLAND_API_KEY_FILE:
never from the command line (process lists, shell history) nor from the config file (it is
committed). Messages here name where the key came from, never what it is; everything the CLI
prints or logs passes through REDACTOR, which replaces every value that may be the key.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import traceback
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import InputError

# A key is one short line; a larger file is not a key file (and /dev/zero must not hang). Pipes
# are welcome: `--api-key-file <(pass show bland)` keeps the key off the disk.
MAX_KEY_FILE_BYTES = 64 * 1024
# What an HTTP header value may hold without escaping; anything else would make httpx raise an
# error whose text shows the header, key included.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class Redactor(logging.Filter):
    """Replaces every known secret in log records and in everything the CLI prints."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        """Hide secret from now on, also as JSON and repr() would escape it."""
        if secret:
            self.secrets.update({secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]})

    def clean(self, text: str) -> str:
        """text with every secret replaced by ***."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.clean(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.clean("".join(traceback.format_exception(*record.exc_info)))
                record.exc_info = None
        return True


# Process-wide, as logging is: the CLI's output and every log handler share it.
REDACTOR = Redactor()


def api_key(option: str | None, environ: Mapping[str, str]) -> str:
    """The API key from --api-key-file, BLAND_API_KEY_FILE or BLAND_API_KEY (never argv)."""
    key_file = key_file_from(option, environ)
    if key_file:
        key = read_key_file(key_file)
    else:
        key = environ.get("BLAND_API_KEY", "").strip()
        if not key:
            raise InputError(
                "BLAND_API_KEY is not set: export it, or name a file holding the key "
                "with --api-key-file or BLAND_API_KEY_FILE"
            )
    REDACTOR.add(key)
    return check_key(key, key_file or "BLAND_API_KEY")


def redact_possible_keys(option: str | None, environ: Mapping[str, str]) -> None:
    """Hide every value that may be the key before anything can print it (see possible_keys)."""
    for key in possible_keys(option, environ):
        REDACTOR.add(key)


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
