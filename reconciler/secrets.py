"""Where the API key comes from, what makes a key unusable, and the redactor that hides it.

The key is read from BLAND_API_KEY, or from a file named by --api-key-file or BLAND_API_KEY_FILE:
never from the command line (process lists, shell history) nor from the config file (it is
committed). Messages here name where the key came from, never what it is; everything the CLI
prints or logs passes through REDACTOR, which replaces every value that may be the key.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import stat
import traceback
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from reconciler.errors import InputError

# A key is one short line; a larger file is not a key file (and /dev/zero must not hang). Pipes
# are welcome: `--api-key-file <(pass show bland)` keeps the key off the disk.
MAX_KEY_FILE_BYTES = 64 * 1024
# A shorter value is not a key. It is refused, and not hidden: hidden whole, a key of one letter
# would blot that letter out of every line printed (a Bland key is far longer; the simulator
# takes any key of this length or more).
MIN_KEY_CHARS = 8
# This many characters of a secret in a row count as showing it: messages cut long values short,
# and the first 36 characters of a key are as good as the key.
LEAKED_RUN_CHARS = 12
# Longer "secrets" (a file given as the key file by mistake) are hidden only whole: each anchor
# (see _Matcher) costs one search of every text cleaned.
_MAX_PIECED_CHARS = 512
# What an HTTP header value may hold without escaping; anything else would make httpx raise an
# error whose text shows the header, key included.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class Redactor(logging.Filter):
    """Replaces every known secret in log records and in everything the CLI prints.

    A message may show only part of a value (a long value is cut short), so any run of
    LEAKED_RUN_CHARS or more characters of a secret is hidden, not only the whole of it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self._matcher: _Matcher | None = None

    def add(self, secret: str) -> None:
        """Hide secret from now on, also as JSON, repr(), HTML and a URL path would escape it."""
        if secret:
            self.secrets.update(
                {
                    secret,
                    json.dumps(secret)[1:-1],
                    repr(secret)[1:-1],
                    quote(secret, safe=""),
                    html.escape(secret),
                    html.escape(secret, quote=False),
                }
            )

    def clean(self, text: str) -> str:
        """text with every secret, and every long enough piece of one, replaced by ***."""
        if not self.secrets:
            return text
        matcher = self._matcher
        if matcher is None or matcher.secrets != self.secrets:
            matcher = self._matcher = _Matcher(frozenset(self.secrets))
        return matcher.clean(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.clean(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.clean("".join(traceback.format_exception(*record.exc_info)))
                record.exc_info = None
        return True


class _Matcher:
    """Finds the secrets, and every run of LEAKED_RUN_CHARS or more characters of one, in text.

    Such a run holds one of the secret's pieces of half that length that start at a multiple of
    it (its anchors): text is searched for the few anchors, fast, and only around each anchor
    found for a window of the secret. Almost all text holds no anchor and is passed over.
    """

    def __init__(self, secrets: frozenset[str]) -> None:
        self.secrets = secrets
        pieced = [s for s in secrets if LEAKED_RUN_CHARS <= len(s) <= _MAX_PIECED_CHARS]
        # Too short to have pieces of their own, or too long to look for them: whole only.
        self._whole = sorted(set(secrets) - set(pieced), key=len, reverse=True)
        self._half = LEAKED_RUN_CHARS // 2
        self._anchors = sorted(
            {
                s[at : at + self._half]
                for s in pieced
                for at in range(0, len(s) - self._half + 1, self._half)
            }
        )
        self._windows = {
            s[at : at + LEAKED_RUN_CHARS]
            for s in pieced
            for at in range(len(s) - LEAKED_RUN_CHARS + 1)
        }

    def clean(self, text: str) -> str:
        for secret in self._whole:
            text = text.replace(secret, "***")
        runs: list[list[int]] = []
        for start, end in sorted(self._windows_found(text)):
            if runs and start <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], end)  # overlapping windows: one run
            else:
                runs.append([start, end])
        if not runs:
            return text
        pieces: list[str] = []
        position = 0
        for start, end in runs:
            pieces += [text[position:start], "***"]
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def _windows_found(self, text: str) -> set[tuple[int, int]]:
        """(start, end) of every window of a secret in text, found around the anchors."""
        found: set[tuple[int, int]] = set()
        for anchor in self._anchors:
            at = text.find(anchor)
            while at != -1:
                # A window holding this anchor starts at most half a window before it.
                for start in range(max(0, at - self._half), at + 1):
                    if text[start : start + LEAKED_RUN_CHARS] in self._windows:
                        found.add((start, start + LEAKED_RUN_CHARS))
                at = text.find(anchor, at + 1)
        return found


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
    source = key_file or "BLAND_API_KEY"
    if len(key) < MIN_KEY_CHARS:
        raise InputError(
            f"the API key from {source} is {len(key)} characters long: "
            f"an API key has at least {MIN_KEY_CHARS}"
        )
    REDACTOR.add(key)
    return check_key(key, source)


def redact_possible_keys(option: str | None, environ: Mapping[str, str]) -> None:
    """Hide every value that may be the key before anything can print it (see possible_keys)."""
    for key in possible_keys(option, environ):
        REDACTOR.add(key)


def key_file_from(option: str | None, environ: Mapping[str, str]) -> str | None:
    """The key file to read: --api-key-file, else BLAND_API_KEY_FILE, else none."""
    return option or environ.get("BLAND_API_KEY_FILE") or None


def key_file_warning(option: str | None, environ: Mapping[str, str]) -> str | None:
    """One line when the key file in use can be read by its group or others, as ssh warns."""
    key_file = key_file_from(option, environ)
    if not key_file:
        return None
    try:
        mode = os.stat(key_file).st_mode
    except OSError:
        return None  # reading it says what is wrong
    if not stat.S_ISREG(mode) or not mode & 0o044:
        return None  # a pipe (`<(pass show bland)`) is the reader's alone
    return (
        f"warning: the API key file {key_file} can be read by group or others "
        f"(mode {stat.S_IMODE(mode):04o}): run chmod 600 {key_file}"
    )


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
    # A shorter value is refused when the key is needed (see MIN_KEY_CHARS).
    return [key for key in keys if len(key) >= MIN_KEY_CHARS]


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    return (error.strerror or type(error).__name__).lower()
