"""Runs of `reconciler` in processes of their own that start without importing the CLI.

Importing the command line takes most of the CPU of a short `reconciler` run, and many tests
need the CLI in a process of its own: the CI recipes' shell scripts run it dozens of times over,
and runs are killed, signalled or have their stdout closed part-way. A server process imports
the CLI once and forks a child for each run, which takes the caller's arguments, environment,
working directory and standard streams and runs the entry point the installed command runs
(`reconciler.__main__.run`); the interpreter then ends it as it ends the installed command.
Shell scripts find a `reconciler` on PATH that asks for such a run and ends as it ended; a test
starts one with ForkedCli.start and drives it as it would a subprocess.

What the children leave out is the interpreter's own start, and the teardown of its modules
once the streams are flushed (_leave): the tests about its start run the real command (signals
while it starts, `python -m reconciler`, the installed wheel, the README's quick start).

Run as a script, this module is the server: `python tests/forked_cli.py SOCKET`. As a script,
not with -m: click names the program after the script that runs (sys.argv[0]), as it does for
the installed command, and after the module that runs with -m.
"""

from __future__ import annotations

import ast
import atexit
import gc
import os
import select
import selectors
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

# The `reconciler` on PATH: started for every run a script makes, so it imports only what it
# needs (-I -S: no site packages, no user environment; C modules only, which load in a moment
# where `socket`, `json` or `signal` would import enum and re). Its streams become the child's.
# The server answers the child's pid, then how it ended, which the client ends the same way:
# with its exit code, or by the signal that killed it. A SIGINT or SIGTERM sent to the client
# is passed on to the child, as a script's `kill` of a background run would reach the command.
CLIENT = """#!{python} -IS
import os, sys, _signal, _socket
server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
server.connect({socket_path!r})
streams = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))  # three C ints
server.sendmsg([b"R"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, streams)])
request = dict(argv=sys.argv, env=dict(os.environ), cwd=os.getcwd())
server.sendall(repr(request).encode())
server.shutdown(_socket.SHUT_WR)
reply = b""
def line(index):
    global reply
    while reply.count(b"\\n") <= index and (chunk := server.recv(64)):
        reply += chunk
    if reply.count(b"\\n") <= index:
        sys.exit("reconciler: the forked run's server went away")
    return int(reply.split(b"\\n")[index])
child = line(0)
for signum in (_signal.SIGINT, _signal.SIGTERM):
    _signal.signal(signum, lambda signum, frame: os.kill(child, signum))
code = line(1)
if code < 0:
    _signal.signal(-code, _signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def _receive(connection: socket.socket) -> dict[str, object]:
    """The client's standard streams, put in place as fds 0, 1 and 2 and as sys.stdin, stdout
    and stderr, made as the interpreter makes them at its start (line-buffered on a terminal,
    stderr always); and its request."""
    _, fds, _, _ = socket.recv_fds(connection, 1, 3)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        made = getattr(sys, name)
        stream = open(  # noqa: SIM115  the interpreter's own, never closed
            fd, "w" if fd else "r", buffering=1 if fd == 2 else -1, encoding=made.encoding,
            errors=made.errors, newline="\n", closefd=False,
        )  # fmt: skip
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    request: dict[str, object] = ast.literal_eval(received.decode())
    return request


def _leave(code: int) -> None:
    """The child's end once the interpreter has waited for its threads: called first of the
    functions registered with atexit, it runs the others, flushes stdout and stderr as the
    interpreter's end does, then leaves as multiprocessing's forked children do, without the
    teardown of every module: that would copy each page it shares with the server (more than
    half the CPU of a short run). A flush that fails is left to the interpreter's end, which
    flushes again, reports it and ends with 120."""
    atexit.unregister(_leave)
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None and not stream.closed:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def _become_the_run(connection: socket.socket) -> NoReturn:
    """In the forked child: take the client's request and run the command line as the
    installed command does. Its end, a SystemExit or any other exception, goes up to the top
    of this script, so the interpreter ends the run as it ends the installed command's (up to
    _leave, but for a KeyboardInterrupt, which it ends by the signal)."""
    request = _receive(connection)
    connection.close()
    os.chdir(str(request["cwd"]))
    environment = request["env"]
    assert isinstance(environment, dict)
    os.environ.clear()
    os.environ.update(environment)
    argv = request["argv"]
    assert isinstance(argv, list)
    sys.argv = [str(word) for word in argv]
    from reconciler.__main__ import run

    try:
        sys.exit(run())  # as the installed command's script
    except SystemExit as exited:  # the code the interpreter takes from it
        code = exited.code
        atexit.register(_leave, code if isinstance(code, int) else int(code is not None))
        raise
    except Exception:  # printed by the interpreter, which ends with 1
        atexit.register(_leave, 1)
        raise


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(socket_path: str) -> None:
    """Import the CLI, then fork a child for each client until SIGTERM. Each client is told
    its child's pid at once, and how the child ended once it is reaped, which also counts its
    CPU time in this process's (and so in the test run's, which waits for this one)."""
    # The imports every child is spared: the CLI, and what is imported only where a command
    # needs it (the planner's deepdiff, the schemas' jsonschema, the httpcore of httpx's first
    # client), which nearly every run here does.
    import deepdiff  # noqa: F401
    import httpcore  # noqa: F401
    import jsonschema  # noqa: F401

    import reconciler.cli  # noqa: F401

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    woken, wake = os.pipe()
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # wakes the select below
    signal.signal(signal.SIGTERM, _stop)
    running: dict[int, socket.socket] = {}
    # What is imported stays out of the collector's sight: a child's collections would touch
    # every object, copying each page the child shares with this process (two thirds of the
    # CPU of a short run).
    gc.freeze()
    print("ready", flush=True)
    try:
        while True:
            ready, _, _ = select.select([listener, woken], [], [])
            if listener in ready:
                connection, _ = listener.accept()
                pid = os.fork()
                if pid == 0:
                    for signum in (signal.SIGCHLD, signal.SIGTERM):
                        signal.signal(signum, signal.SIG_DFL)
                    signal.set_wakeup_fd(-1)
                    for other in (listener, *running.values()):
                        other.close()
                    os.close(woken)
                    os.close(wake)
                    _become_the_run(connection)
                connection.sendall(f"{pid}\n".encode())
                running[pid] = connection
            if woken in ready:
                os.read(woken, 4096)
            while running and (ended := os.waitpid(-1, os.WNOHANG))[0]:
                connection = running.pop(ended[0])
                with suppress(OSError):
                    connection.sendall(f"{os.waitstatus_to_exitcode(ended[1])}\n".encode())
                connection.close()
    finally:
        for connection in running.values():
            connection.close()
        with suppress(ChildProcessError):
            while True:
                os.wait()


class ForkedRun:
    """One forked run of the CLI, driven as a subprocess.Popen with text pipes is: stdin is
    /dev/null, stdout and stderr pipes, unless file descriptors are given for them."""

    def __init__(
        self,
        socket_path: Path,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
    ) -> None:
        self._connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._connection.connect(str(socket_path))
        readers: dict[int, int] = {}  # the read ends of the pipes made here: fd 1, 2 -> end
        sent = []
        for target, given in enumerate((stdin, stdout, stderr)):
            if given is not None:
                sent.append(os.dup(given))
            elif target == 0:
                sent.append(os.open(os.devnull, os.O_RDONLY))
            else:
                readers[target], write_end = os.pipe()
                sent.append(write_end)
        socket.send_fds(self._connection, [b"R"], sent)
        for fd in sent:
            os.close(fd)
        request = {"argv": ["reconciler", *argv], "env": dict(env), "cwd": str(cwd)}
        self._connection.sendall(repr(request).encode())
        self._connection.shutdown(socket.SHUT_WR)
        self._reply = b""
        while b"\n" not in self._reply:
            self._read_reply()
        self.pid = int(self._reply.split(b"\n")[0])
        # Closed by communicate, as Popen's are.
        self.stdout: IO[str] | None = open(readers[1]) if 1 in readers else None  # noqa: SIM115
        self.stderr: IO[str] | None = open(readers[2]) if 2 in readers else None  # noqa: SIM115
        self.returncode: int | None = None

    def _read_reply(self) -> None:
        chunk = self._connection.recv(64)
        assert chunk, "the forked run's server went away"
        self._reply += chunk

    def poll(self) -> int | None:
        """The exit code once the run has ended (minus the signal that killed it), else None."""
        if self.returncode is None:
            self._connection.setblocking(False)
            with suppress(BlockingIOError):
                while self._reply.count(b"\n") < 2:
                    self._read_reply()
            self._connection.setblocking(True)
            if self._reply.count(b"\n") == 2:
                self.returncode = int(self._reply.split(b"\n")[1])
                self._connection.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end of the run (the server's word that it ended); its exit code."""
        while (code := self.poll()) is None:
            ready, _, _ = select.select([self._connection], [], [], timeout)
            assert ready, f"the forked run took more than {timeout} s"
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Read stdout and stderr (those that are pipes) to their end, then wait for the end of
        the run."""
        streams = [stream for stream in (self.stdout, self.stderr) if stream is not None]
        output = {stream: b"" for stream in streams}
        with selectors.DefaultSelector() as selector:
            for stream in streams:
                selector.register(stream, selectors.EVENT_READ)
            while selector.get_map():
                events = selector.select(timeout)
                assert events, f"the forked run took more than {timeout} s"
                for key, _ in events:
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    output[key.fileobj] += chunk  # type: ignore[index]
        for stream in streams:
            stream.close()
        self.wait(timeout)
        out, err = (output.get(stream, b"").decode() for stream in (self.stdout, self.stderr))
        return out, err


@dataclass(frozen=True)
class ForkedCli:
    """The server's socket, and a bin folder whose `reconciler` asks it for a run."""

    socket: Path
    bin: Path

    def start(
        self, *args: str, env: Mapping[str, str], cwd: Path, **streams: int | None
    ) -> ForkedRun:
        """`reconciler ARGS...` with this environment, in this folder; `stdin`, `stdout` and
        `stderr` may be given as file descriptors (ForkedRun)."""
        return ForkedRun(self.socket, args, env, cwd, **streams)


@contextmanager
def forked_cli(folder: Path) -> Iterator[ForkedCli]:
    """Start the server, give its socket and client, stop it (it waits for its children)."""
    socket_path = folder / "cli.sock"
    server = subprocess.Popen(
        [sys.executable, __file__, str(socket_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline() == "ready\n", "the forked CLI's server did not start"
        bin_folder = folder / "bin"
        bin_folder.mkdir()
        client = bin_folder / "reconciler"
        client.write_text(CLIENT.format(python=sys.executable, socket_path=str(socket_path)))
        client.chmod(client.stat().st_mode | stat.S_IXUSR)
        yield ForkedCli(socket_path, bin_folder)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a child that never ended holds it
            server.kill()
            server.wait()


if __name__ == "__main__":
    # The project's root in place of this folder, as for `python -m reconciler` run there: the
    # tree under test is what is imported (a copy under mutation testing, say), whatever is
    # installed.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    serve(sys.argv[1])
