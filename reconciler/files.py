"""Reading and writing files safely: a reader is never blocked by a FIFO or a device, and sees
the old content or the new, never half of either; no file written holds the API key."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from reconciler.errors import InputError, cannot_read
from reconciler.secrets import REDACTOR


def open_regular(path: str | Path) -> BinaryIO:
    """Open a regular file for reading in binary mode, without waiting on anything else.
    Raises InputError saying why for a FIFO, a device, a folder or a file that cannot be opened."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore it.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise cannot_read(path, error) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InputError(f"{path}: not a regular file")
    return os.fdopen(descriptor, "rb")


def read_regular(path: str | Path, max_bytes: int) -> tuple[int, bytes]:
    """A regular file's size and its content, or no content when the size is over `max_bytes`;
    a file may grow after its size is read, so at most one byte past the limit is read to know.
    Raises InputError saying why the file cannot be opened or read."""
    try:
        with open_regular(path) as stream:
            size = os.fstat(stream.fileno()).st_size
            return size, stream.read(max_bytes + 1) if size <= max_bytes else b""
    except OSError as error:  # a read that fails (EIO), after the open succeeded
        raise cannot_read(path, error) from None


def refuse_overwriting(option: str, path: str | Path, inputs: Mapping[str, str]) -> None:
    """InputError when path is empty (an unset variable) or one of the inputs (path -> what it
    is), compared as files: `./x.yaml`, a symbolic or a hard link to it are x.yaml."""
    if not str(path):
        raise InputError(f"{option}: the file name is empty (nothing was written; give a path)")
    for source, what in inputs.items():
        with suppress(OSError):  # one of them does not exist: nothing to overwrite
            if os.path.samefile(path, source):
                raise InputError(
                    f"{option} {path} is the {what} {source}: refusing to write over it "
                    "(nothing was written; choose another path)"
                )


def readable_by_others(what: str, path: str) -> str | None:
    """A warning when a regular file that lists secrets or numbers can be read by its group or
    others, as ssh warns (a pipe, `<(pass show bland)`, is its reader's alone)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # not there (""): nothing to warn of
    if not stat.S_ISREG(mode) or not mode & 0o044:
        return None
    return (
        f"warning: the {what} {path} can be read by group or others "
        f"(mode {stat.S_IMODE(mode):04o}): run chmod 600 {path}"
    )


# Temporary files write_atomic has open: removed if the process is stopped at once (a signal).
_TEMPORARY: set[str] = set()


def remove_temporary_files() -> None:
    """Remove write_atomic's temporary files, for a process about to end without unwinding."""
    for temporary in list(_TEMPORARY):
        with suppress(OSError):
            os.unlink(temporary)
    _TEMPORARY.clear()


def write_atomic(
    path: str | Path,
    text: str,
    *,
    mode: int | None = None,
    what: str = "file",
    if_exists: str | None = None,
) -> None:
    """Write text, redacted, to path atomically (temp file in the same folder, fsync, chmod,
    rename): the one way the tool writes a file. `mode` None keeps the mode of a file replaced
    (it may be shared on purpose), else 0600: it lists the account's numbers. With `if_exists`,
    a file there, even one that appeared meanwhile, is never replaced: that is the InputError."""
    target = Path(path)
    replaced: os.stat_result | None = None
    with suppress(OSError):
        replaced = os.stat(target)
    # Renaming over a pipe, a device or a link to one (`--out /dev/stdout`) would replace the
    # device's name itself with a file (root may). A link to a regular file is replaced, never
    # written through: a planted link must not send the write elsewhere.
    if replaced is not None and not stat.S_ISREG(replaced.st_mode):
        raise InputError(
            f"{path}: not a regular file: the {what} replaces the file it is written to "
            "(nothing was written)"
        )
    if mode is None:
        mode = 0o600 if replaced is None else replaced.st_mode & 0o777
    temporary = ""
    try:
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
        _TEMPORARY.add(temporary)
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(REDACTOR.clean(text))
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        if if_exists is None:
            os.replace(temporary, target)
        else:  # only while the name is free: FileExistsError otherwise
            try:
                os.link(temporary, target)  # unlike a rename, fails when the name is taken
            except OSError:
                # No hard links here: claim the name, then rename over the claim (a name taken
                # fails the claim as it failed the link).
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                os.replace(temporary, target)
    except OSError as error:
        if isinstance(error, FileExistsError) and if_exists is not None:
            raise InputError(if_exists) from None
        raise InputError(f"{path}: cannot write the {what} ({error.strerror})") from None
    finally:  # the temporary file's name is left over after a link, or a failure
        with suppress(OSError):
            os.unlink(temporary)
        _TEMPORARY.discard(temporary)
    # Make the rename itself durable; some file systems cannot fsync a folder, which is fine.
    with suppress(OSError):
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
