"""How large an answer of the API may be, and sizes as people write them (512M, 1G).

The largest answer is GET /v1/inbound: every number of the account in one body, each record
carrying its prompt. The default is sized for 100,000 numbers (the arithmetic is in
docs/commands.md, "Reading the account"); an answer over it is refused while it streams.
"""

from __future__ import annotations

import re

from reconciler.errors import InputError

MiB = 1024**2
DEFAULT_MAX_RESPONSE_BYTES = 512 * MiB
# A limit below this is surely a slip (512 meant as megabytes): one page of personas is larger.
MIN_RESPONSE_BYTES = 1 * MiB

_UNITS = {"": 1, "k": 1024, "m": MiB, "g": 1024**3}
_SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)


def parse_size(text: str, source: str) -> int:
    """Bytes from `text`: a whole number, optionally with K, M or G (powers of 1024).

    `source` names where the text came from (an option or a variable) in the one-line error.
    """
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise InputError(
            f"{source} {text!r} is not a size: give bytes, or a whole number with K, M or G "
            "(for instance 512M)"
        )
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if size < MIN_RESPONSE_BYTES:
        raise InputError(
            f"{source} {text!r} is {size} bytes, less than the least allowed (1M): "
            "sizes are in bytes unless K, M or G follows (for instance 512M)"
        )
    return size


def shown_size(size: int) -> str:
    """A byte count as the error messages show it: in GiB or MiB when a whole number of them."""
    if size % (1024 * MiB) == 0:
        return f"{size // (1024 * MiB)} GiB"
    return f"{size // MiB} MiB" if size % MiB == 0 else f"{size:,} bytes"
