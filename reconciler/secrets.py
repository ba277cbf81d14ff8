"""Where the API key comes from, what makes a key unusable, and the redactor that hides it.

The key comes from BLAND_API_KEY or a file (--api-key-file, BLAND_API_KEY_FILE), never from the
command line nor the config file. Messages name where it came from, never what it is; all that
is printed, logged or written passes through REDACTOR.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import os
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from reconciler.errors import InputError, cannot_read
from reconciler.text import printable

# A larger file is not a key file (and /dev/zero must not hang); a pipe, `<(pass show bland)`, is.
MAX_KEY_FILE_BYTES = 64 * 1024
# A shorter value is refused, not hidden: hiding a one-letter key would blot out that letter.
MIN_KEY_CHARS = 8
# This many characters of a secret in a row show it: messages cut long values short.
LEAKED_RUN_CHARS = 12
# Longer "secrets" (a wrong file given as the key file) are hidden only whole: each anchor (see
# Redactor) costs one search of every text cleaned.
_MAX_PIECED_CHARS = 512
# What a header value may hold: httpx's error for anything else shows the header, key included.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


@lru_cache(maxsize=8)
def _pieces(secrets: frozenset[str]) -> tuple[list[str], set[str], set[str]]:
    """The secrets hidden only whole (longest first), then the others' anchors and windows."""
    pieced = {s for s in secrets if LEAKED_RUN_CHARS <= len(s) <= _MAX_PIECED_CHARS}
    half = LEAKED_RUN_CHARS // 2
    return (
        sorted(secrets - pieced, key=len, reverse=True),
        {s[at : at + half] for s in pieced for at in range(0, len(s) - half + 1, half)},
        {
            s[at : at + LEAKED_RUN_CHARS]
            for s in pieced
            for at in range(len(s) - LEAKED_RUN_CHARS + 1)
        },
    )


class Redactor:
    """Replaces every known secret, and every run of LEAKED_RUN_CHARS of one, in everything the
    CLI prints, logs or writes.

    Such a run holds one of the secret's pieces of half that length that start at a multiple of
    it (its anchors): text is searched for the few anchors, and only around each one found for a
    window (a run) of the secret.
    """

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        """Hide secret from now on, also as JSON, repr(), HTML and a URL path would escape it."""
        escaped = (json.dumps(secret)[1:-1], repr(secret)[1:-1], quote(secret, safe=""))
        self.secrets.update({secret, *escaped, html.escape(secret), html.escape(secret, False)})

    def clean(self, text: str) -> str:
        """text with every secret, and every long enough piece of one, replaced by ***."""
        whole, anchors, windows = _pieces(frozenset(self.secrets))
        for secret in whole:
            text = text.replace(secret, "***")
        starts: set[int] = set()
        for anchor in anchors:
            at = text.find(anchor)
            while at != -1:
                # A window holding this anchor starts at most half a window before it.
                for start in range(max(0, at - LEAKED_RUN_CHARS // 2), at + 1):
                    if text[start : start + LEAKED_RUN_CHARS] in windows:
                        starts.add(start)
                at = text.find(anchor, at + 1)
        pieces: list[str] = []
        end = 0
        for start in sorted(starts):
            if start > end or not pieces:  # else it overlaps the run before: one ***
                pieces += [text[end:start], "***"]
            end = max(end, start + LEAKED_RUN_CHARS)
        return "".join(pieces) + text[end:]


# Process-wide, as logging is: the CLI's output, its log lines and the files it writes share it.
REDACTOR = Redactor()


def api_key(option: str | None, environ: Mapping[str, str]) -> str:
    """The API key from --api-key-file, BLAND_API_KEY_FILE or BLAND_API_KEY (never argv)."""
    key_file = key_file_from(option, environ)
    key = read_key_file(key_file) if key_file else environ.get("BLAND_API_KEY", "").strip()
    if not key:
        raise InputError(
            "BLAND_API_KEY is not set: export it, or name a file holding the key "
            "with --api-key-file or BLAND_API_KEY_FILE"
        )
    source = key_source(option, environ)
    if len(key) < MIN_KEY_CHARS:
        raise InputError(
            f"the API key from {source} is {len(key)} characters long: "
            f"an API key has at least {MIN_KEY_CHARS}"
        )
    REDACTOR.add(key)
    if not _HEADER_SAFE.fullmatch(key):
        raise InputError(
            f"the API key from {source} contains a space, a line break, a control or a "
            "non-ASCII character: an API key is one line of printable ASCII"
        )
    return key


def key_file_from(option: str | None, environ: Mapping[str, str]) -> str | None:
    return option or environ.get("BLAND_API_KEY_FILE") or None


def key_source(option: str | None, environ: Mapping[str, str]) -> str:
    """Where the key comes from, in words: never the key itself."""
    key_file = key_file_from(option, environ)
    if key_file is None:
        return "BLAND_API_KEY"
    named_by = "--api-key-file" if option else "BLAND_API_KEY_FILE"
    return f"the file {printable(key_file)} ({named_by})"


def read_key_file(key_file: str) -> str:
    """The key held in key_file, stripped of surrounding whitespace."""
    try:
        with Path(key_file).open("rb") as stream:
            content = stream.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise cannot_read(key_file, error, "API key file") from None
    if len(content) > MAX_KEY_FILE_BYTES:
        raise InputError(f"{key_file}: too large for an API key file")
    try:
        key = content.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError(f"{key_file}: the API key file is not UTF-8 text") from None
    if not key:
        raise InputError(f"{key_file}: the API key file is empty")
    return key


def redact_keys_named(args: Sequence[str], environ: Mapping[str, str] = os.environ) -> None:
    """Hide every value that may be the key before anything can print it, read without failing:
    BLAND_API_KEY, the key file, and every value given to --api-key-file wherever it stands, before
    click reads the options (its usage errors quote them); the single-dash form (Terraform's way)
    too. Even `validate`, which needs no key, must not print one pasted into the config."""
    keys = [environ.get("BLAND_API_KEY", "").strip()]
    key_files = [environ.get("BLAND_API_KEY_FILE")]
    for arg, following in itertools.pairwise([*args, ""]):
        option, equals, value = arg.partition("=")
        if option in ("--api-key-file", "-api-key-file") and (equals or following):
            key_files.append(value if equals else following)
    for key_file in filter(None, key_files):
        # Only a regular file is read ahead: a pipe can be read once, when the key is needed. A
        # file that cannot be read is reported when the key is needed, not here.
        if os.path.isfile(key_file):
            with contextlib.suppress(InputError):
                keys.append(read_key_file(key_file))
        elif "/" not in key_file and not os.path.lexists(key_file):
            # `--api-key-file "$BLAND_API_KEY"`: the key where its file's path belongs, which the
            # error naming the missing file must not print (a path with a folder still shows).
            keys.append(key_file.strip())
    for key in keys:
        if len(key) >= MIN_KEY_CHARS:  # a shorter value is refused when the key is needed
            REDACTOR.add(key)
