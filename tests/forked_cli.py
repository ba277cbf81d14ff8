"""Runs of `reconciler` in processes of their own that start without importing the CLI.

Importing the command line takes most of the CPU of a short `reconciler` run, and some tests run
it dozens of times over: the CI recipes' steps' shell scripts, and the applies killed part-way.
A server process imports the CLI once and forks a child for each run, which takes the caller's
arguments, environment, working directory and standard streams and runs the entry point the
installed command runs (`reconciler.__main__.run`). Shell scripts find a `reconciler` on PATH
that asks for such a run and exits with its code; a test starts one with ForkedCli.start and
drives it as it would a subprocess, signals included, since the child is a process of its own.

What the children leave out is the interpreter's own start and end: the tests about those run
the real command (signals while starting, a closed stdout, `python -m`, the installed wheel).

Run as a script, this module is the server: `python tests/forked_cli.py SOCKET`. As a script,
not with -m: click names the program after the script that runs (sys.argv[0]), as it does for
the installed command, and after the module that runs with -m.
"""

from __future__ import annotations

import json
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

# The `reconciler` on PATH: started for every run a script makes, so it imports only what it
# needs (-I -S: no site packages, no user environment). Its streams become the child's; the
# server answers the child's pid, then its exit code, which the client exits with (1 and a line
# on stderr if the child ended without one). Signals sent to it are not passed on.
CLIENT = """#!{python} -IS
import json, os, socket, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.connect({socket_path!r})
request = dict(argv=sys.argv, env=dict(os.environ), cwd=os.getcwd())
socket.send_fds(server, [b"R"], [0, 1, 2])
server.sendall(json.dumps(request).encode())
server.shutdown(socket.SHUT_WR)
reply = b""
while chunk := server.recv(64):
    reply += chunk
code = reply.split(b"\\n")[1:2]
if not code or not code[0]:
    sys.stderr.write("reconciler: the forked run ended without an exit code\\n")
sys.exit(int(code[0]) if code and code[0] else 1)
"""


def _receive(connection: socket.socket) -> dict[str, object]:
    """The client's standard streams, put in place as fds 0, 1 and 2, and its request."""
    _, fds, _, _ = socket.recv_fds(connection, 1, 3)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    request: dict[str, object] = json.loads(received)
    return request


def _run_child(connection: socket.socket) -> None:
    """In the forked child: become the client's run of `reconciler`, send back the exit code."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    request = _receive(connection)
    connection.sendall(f"{os.getpid()}\n".encode())
    os.chdir(str(request["cwd"]))
    environment = request["env"]
    assert isinstance(environment, dict)
    os.environ.clear()
    os.environ.update(environment)
    argv = request["argv"]
    assert isinstance(argv, list)
    sys.argv = [str(word) for word in argv]
    code: object = 0
    try:
        from reconciler.__main__ import run

        run()
    except SystemExit as stopped:
        code = stopped.code
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError):
            stream.flush()
    status = code if isinstance(code, int) else (0 if code is None else 1)
    connection.sendall(str(status).encode())
    os._exit(status)


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _reap(flags: int) -> None:
    """Wait for the children that ended (all of them, without WNOHANG): their CPU time then
    counts in this process's, and so in the test run's once it waits for this one."""
    try:
        while os.waitpid(-1, flags)[0]:
            pass
    except ChildProcessError:
        pass


def serve(socket_path: str) -> None:
    """Import the CLI, then fork a child for each client until SIGTERM."""
    import reconciler.cli  # noqa: F401  the import every child is spared

    signal.signal(signal.SIGTERM, _stop)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    print("ready", flush=True)
    try:
        while True:
            connection, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                _run_child(connection)
            connection.close()
            _reap(os.WNOHANG)
    finally:
        _reap(0)


class ForkedRun:
    """One forked run of the CLI, driven as a subprocess.Popen with text pipes is (stdin is
    /dev/null). Its end is known by the end of its connection, held by the child alone; a
    child killed before it sent its exit code gets returncode -1."""

    def __init__(
        self, socket_path: Path, argv: Sequence[str], env: Mapping[str, str], cwd: Path
    ) -> None:
        self._connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._connection.connect(str(socket_path))
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        stdin = os.open(os.devnull, os.O_RDONLY)
        socket.send_fds(self._connection, [b"R"], [stdin, out_write, err_write])
        for fd in (stdin, out_write, err_write):
            os.close(fd)
        request = {"argv": ["reconciler", *argv], "env": dict(env), "cwd": str(cwd)}
        self._connection.sendall(json.dumps(request).encode())
        self._connection.shutdown(socket.SHUT_WR)
        self._reply = b""
        while b"\n" not in self._reply:
            chunk = self._connection.recv(64)
            assert chunk, "the forked run ended before it started"
            self._reply += chunk
        self.pid = int(self._reply.split(b"\n")[0])
        self.stdout = open(out_read, encoding="utf-8")  # noqa: SIM115  closed by communicate
        self.stderr = open(err_read, encoding="utf-8")  # noqa: SIM115
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the run has ended, else None (without waiting)."""
        if self.returncode is None:
            self._connection.setblocking(False)
            with suppress(BlockingIOError):
                while chunk := self._connection.recv(64):
                    self._reply += chunk
                code = self._reply.split(b"\n")[1]
                self.returncode = int(code) if code else -1
            self._connection.setblocking(True)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Read stdout and stderr to their end, then wait for the end of the run."""
        output = {self.stdout: "", self.stderr: ""}
        with selectors.DefaultSelector() as selector:
            for stream in output:
                selector.register(stream, selectors.EVENT_READ)
            while selector.get_map():
                events = selector.select(timeout)
                assert events, f"the forked run took more than {timeout} s"
                for key, _ in events:
                    chunk = os.read(key.fd, 65536).decode()
                    if not chunk:
                        selector.unregister(key.fileobj)
                    output[key.fileobj] += chunk  # type: ignore[index]
        for stream in output:
            stream.close()
        while self.poll() is None:  # select wakes when the child sent its code or ended
            ready, _, _ = select.select([self._connection], [], [], timeout)
            assert ready, f"the forked run took more than {timeout} s"
        self._connection.close()
        return output[self.stdout], output[self.stderr]


@dataclass(frozen=True)
class ForkedCli:
    """The server's socket, and a bin folder whose `reconciler` asks it for a run."""

    socket: Path
    bin: Path

    def start(self, *args: str, env: Mapping[str, str], cwd: Path) -> ForkedRun:
        """`reconciler ARGS...` with this environment, in this folder."""
        return ForkedRun(self.socket, args, env, cwd)


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
        server.wait(timeout=60)


if __name__ == "__main__":
    del sys.path[0]  # this folder: the installed command's is the bin folder, nothing to import
    serve(sys.argv[1])
