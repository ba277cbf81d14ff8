"""Writing files so that a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path

from reconciler.errors import InputError


def _default_mode(path: Path) -> int:
    """The mode of the file being replaced, or what the umask gives a new file."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(
    path: str | Path, text: str, *, mode: int | None = None, what: str = "file"
) -> None:
    """Write text to path atomically: temp file in the same folder, fsync, chmod, rename.

    `mode` None keeps the mode of the file replaced (or the umask's for a new one). Errors become
    one-line InputErrors naming the path.
    """
    target = Path(path)
    try:
        final_mode = _default_mode(target) if mode is None else mode
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise InputError(f"{path}: cannot write the {what} ({error.strerror})") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, final_mode)
        os.replace(temporary, target)
    except BaseException as error:
        with suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise InputError(f"{path}: cannot write the {what} ({error.strerror})") from None
        raise
    # Make the rename itself durable; some file systems cannot fsync a folder, which is fine.
    with suppress(OSError):
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
