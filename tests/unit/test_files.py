"""Opening only regular files without blocking, and the wording of a file that cannot be read."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.files import (
    open_regular,
    read_regular,
    readable_by_others,
    refuse_overwriting,
    remove_temporary_files,
    write_atomic,
)
from reconciler.secrets import REDACTOR


def test_a_regular_file_is_opened_for_binary_reading(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"version: 1\n\xff")
    with open_regular(path) as stream:
        assert stream.read() == b"version: 1\n\xff"
    with open_regular(str(path)) as stream:
        assert stream.read(7) == b"version"


def test_an_empty_file_is_regular(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.touch()
    with open_regular(path) as stream:
        assert stream.read() == b""


def test_opening_a_fifo_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    try:
        os.mkfifo(fifo)
    except (AttributeError, OSError):
        pytest.skip("no FIFOs here")
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            open_regular(fifo).close()
        except BaseException as error:  # handed to the test thread
            outcome.append(error)
        else:
            outcome.append(None)

    # A thread, so that a regression fails the test instead of hanging it.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():
        # Release the blocked open() so the thread ends, then fail.
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("opening a FIFO waited for a writer")
    assert len(outcome) == 1
    assert isinstance(outcome[0], InputError)
    assert str(outcome[0]) == f"{fifo}: not a regular file"


def test_a_folder_is_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        open_regular(tmp_path)
    assert str(raised.value) == f"{tmp_path}: not a regular file"


def test_a_device_is_not_a_regular_file() -> None:
    if not Path(os.devnull).exists() or os.devnull != "/dev/null":
        pytest.skip("no /dev/null here")
    with pytest.raises(InputError, match="not a regular file"):
        open_regular(os.devnull)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    for missing in (tmp_path / "nope.yaml", tmp_path / "nope" / "a.yaml"):
        with pytest.raises(InputError) as raised:
            open_regular(missing)
        assert str(raised.value) == f"{missing}: no such file"


def test_an_unreadable_file_gives_the_reason_in_lower_case(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("version: 1\n")
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as a user who can read any file")
    with pytest.raises(InputError) as raised:
        open_regular(path)
    assert str(raised.value) == f"{path}: cannot read the file (permission denied)"


def test_no_descriptor_is_left_open_when_a_file_is_refused(tmp_path: Path) -> None:
    folder = Path("/proc/self/fd")
    if not folder.is_dir():
        pytest.skip("no /proc/self/fd here")
    before = len(list(folder.iterdir()))
    for _ in range(20):
        with pytest.raises(InputError):
            open_regular(tmp_path)
    assert len(list(folder.iterdir())) == before


def test_refuse_overwriting_compares_files_not_names(tmp_path: Path) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text("version: 1\n")
    inputs = {str(config): "config file"}
    link = tmp_path / "link"
    link.symlink_to(config)
    hard = tmp_path / "hard"
    hard.hardlink_to(config)
    for same in (config, tmp_path / "." / "personas.yaml", link, hard):
        with pytest.raises(InputError, match="is the config file"):
            refuse_overwriting("--out", same, inputs)
    copy = tmp_path / "copy.yaml"
    copy.write_text(config.read_text())
    refuse_overwriting("--out", copy, inputs)  # same content, another file
    refuse_overwriting("--out", tmp_path / "new.json", inputs)  # not there yet
    refuse_overwriting("--out", config, {str(tmp_path / "gone.yaml"): "config file"})


def test_a_temporary_file_of_write_atomic_can_be_removed_by_a_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal that ends the process while a file is written leaves no temporary file behind."""
    target = tmp_path / "plan.json"

    def stopped_while_writing(descriptor: int) -> None:
        (temporary,) = tmp_path.iterdir()
        remove_temporary_files()  # what the stop does before the process ends
        assert not temporary.exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", stopped_while_writing)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "{}")
    assert list(tmp_path.iterdir()) == []


def test_no_temporary_file_is_left_registered_after_a_write(tmp_path: Path) -> None:
    write_atomic(tmp_path / "plan.json", "{}")
    remove_temporary_files()  # nothing of a finished write is removed
    assert [path.name for path in tmp_path.iterdir()] == ["plan.json"]


@pytest.mark.parametrize("through_a_link", [False, True], ids=["fifo", "link to a fifo"])
def test_write_atomic_never_replaces_what_is_not_a_regular_file(
    through_a_link: bool, tmp_path: Path
) -> None:
    """`--out /dev/stdout` (a link to a pipe) replaced /dev/stdout itself with a file, as root."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = tmp_path / "stdout" if through_a_link else fifo
    if through_a_link:
        target.symlink_to(fifo)
    with pytest.raises(InputError) as refused:
        write_atomic(target, "{}", what="plan file")
    assert str(refused.value) == (
        f"{target}: not a regular file: the plan file replaces the file it is written to "
        "(nothing was written)"
    )
    assert fifo.is_fifo() and (target.is_symlink() or not through_a_link)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted({"pipe", target.name})


def test_write_atomic_replaces_a_link_to_a_regular_file_not_its_target(tmp_path: Path) -> None:
    """A link planted where the file is written never makes the write land elsewhere."""
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("kept")
    (tmp_path / "plan.json").symlink_to(elsewhere)
    write_atomic(tmp_path / "plan.json", "{}")
    assert elsewhere.read_text() == "kept"
    assert (tmp_path / "plan.json").read_text() == "{}"


KEY = "sk-live-0123456789abcdefghij"


@pytest.mark.parametrize(
    "text",
    [
        f'{{"{KEY}": "a JSON key"}}\n',
        f'{{"name": "{KEY}"}}\n',
        f"label: Front desk {KEY[3:23]} (20 characters of it)\n",
    ],
    ids=["json key", "json value", "a run of it"],
)
def test_write_atomic_hides_every_secret_wherever_it_stands(text: str, tmp_path: Path) -> None:
    REDACTOR.add(KEY)
    path = tmp_path / "out.json"
    write_atomic(path, text)
    written = path.read_text()
    assert "***" in written
    assert not any(KEY[at : at + 12] in written for at in range(len(KEY) - 11))


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_new_file_is_written_for_its_owner_only(umask: int, tmp_path: Path) -> None:
    before = os.umask(umask)
    try:
        write_atomic(tmp_path / "new.yaml", "version: 1\n")
    finally:
        os.umask(before)
    assert (tmp_path / "new.yaml").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard links", "no hard links"])
def test_write_atomic_with_if_exists_never_replaces_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    if not hard_links:  # as on some network and FAT file systems

        def refuse(*args: object) -> None:
            raise PermissionError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", refuse)
    target = tmp_path / "out.yaml"
    write_atomic(target, "first\n", if_exists="taken")
    assert target.read_text() == "first\n"
    with pytest.raises(InputError, match=r"^taken$"):
        write_atomic(target, "second\n", if_exists="taken")
    assert target.read_text() == "first\n"
    assert [path.name for path in tmp_path.iterdir()] == ["out.yaml"]


@pytest.mark.parametrize(
    ("mode", "warned"), [(0o600, False), (0o400, False), (0o640, True), (0o604, True)]
)
def test_a_file_group_or_others_can_read_is_warned_about(
    mode: int, warned: bool, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    path.touch(mode)
    path.chmod(mode)
    warning = readable_by_others("log file", str(path))
    expected = (
        f"warning: the log file {path} can be read by group or others "
        f"(mode {mode:04o}): run chmod 600 {path}"
    )
    assert warning == (expected if warned else None)


def test_no_warning_for_what_is_not_a_regular_file_or_not_there(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o644)
    assert readable_by_others("log file", str(fifo)) is None
    assert readable_by_others("log file", str(tmp_path / "missing")) is None
    assert readable_by_others("log file", "") is None


def test_read_regular_reads_at_most_one_byte_past_the_limit(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(b"12345")
    large.write_bytes(b"x" * 100)
    assert read_regular(small, 5) == (5, b"12345")
    assert read_regular(large, 10) == (100, b"")  # over the limit by its size: not read


def test_read_regular_names_a_file_whose_read_fails() -> None:
    with pytest.raises(InputError, match=r"^/proc/self/mem: cannot read the file \(") as error:
        read_regular("/proc/self/mem", 10)
    assert "input/output error" in str(error.value)
