"""A `reconciler` command for shell scripts under test that starts without importing the CLI.

Importing the command line takes most of the CPU of a short `reconciler` run. The CI recipes'
tests run their steps' shell scripts, which call `reconciler` dozens of times over, so they find
this one first on PATH: a small client that hands its arguments, environment, working directory
and standard streams to a server process which imported the CLI once, and forks a child for each
run. The child is a process of its own, running the entry point the installed command runs
(`reconciler.__main__.run`) in the client's place, and the client exits with the child's code.

What it leaves out is the interpreter's own start and end; the tests about those run the real
command (signals, a closed stdout, `python -m`, the installed wheel and the pre-commit hook).
Signals sent to the client are not passed on: the scripts run here are never signalled.

Run as a script, this module is the server: `python tests/forked_cli.py SOCKET`. As a script,
not with -m: click names the program after the script that runs (sys.argv[0]), as it does for
the installed command, and after the module that runs with -m.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

# The client: started for every `reconciler` a script runs, so it imports only what it needs
# (-I -S: no site packages, no user environment). It exits with the child's code, or 1 with a
# line on stderr when the child ended without sending one.
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
if not reply:
    sys.stderr.write("reconciler: the forked run ended without an exit code\\n")
sys.exit(int(reply or 1))
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


@contextmanager
def forked_cli(folder: Path) -> Iterator[Path]:
    """Start the server; yield a bin folder whose `reconciler` is its client."""
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
        yield bin_folder
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    del sys.path[0]  # this folder: the installed command's is the bin folder, nothing to import
    serve(sys.argv[1])
