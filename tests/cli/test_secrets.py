"""The API key never appears: not on stdout or stderr at -vv, not in errors, not in written files.

A canary key runs through every command on success and failure paths. Each row of ROWS is one
run; a new command or output file is one more row (files written under the working directory,
such as a saved plan or a log file, are scanned too). No run of 12 characters of a key may
appear, in the text as written or with its Markdown, JSON or HTML escapes undone.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import click
import pytest

from reconciler.cli import Settings, cli, main
from reconciler.simulator import Simulator
from tests.conftest import EXAMPLES, TEST_KEY, ProxyListener, RunCli, write_config

CANARY = TEST_KEY
# As long as a live Bland key, and full of what Markdown, HTML and JSON escape: an escaped key
# is still the key, and a message that cuts it short still shows most of it.
LONG_CANARY = 'org_live_Zq7*Xw3_[Lp9]|Mn4~Rt6!Vb2:$Kc8@Hs5#Jd1<Fg0>&Ty3`Nu7"Pe4\\Wa2-Qo6+Ei9=Ux5abc'
# Any run of 12 characters of a key is a leak, not only the whole of it.
LEAKED_RUN_CHARS = 12
CANARY_PIECES = sorted(
    {
        key[start : start + LEAKED_RUN_CHARS]
        for key in (CANARY, LONG_CANARY)
        for start in range(len(key) - LEAKED_RUN_CHARS + 1)
    }
)
CONFIG = str(EXAMPLES / "personas.yaml")


@dataclass
class Setting:
    """What a row may change before its run: the simulator, the environment, files."""

    sim: Simulator
    monkeypatch: pytest.MonkeyPatch
    workdir: Path

    def env(self, name: str, value: str | None) -> None:
        if value is None:
            self.monkeypatch.delenv(name, raising=False)
        else:
            self.monkeypatch.setenv(name, value)

    def key_file(self, content: str, mode: int = 0o600) -> str:
        path = self.workdir / "key.txt"
        path.write_text(content)
        path.chmod(mode)
        return str(path)

    def long_key(self) -> None:
        """The account expects LONG_CANARY, and the CLI sends it."""
        self.sim.api_key = LONG_CANARY
        self.env("BLAND_API_KEY", LONG_CANARY)


@dataclass(frozen=True)
class Row:
    name: str
    args: tuple[str, ...]
    code: int
    setup: Callable[[Setting], object] | None = None
    # The key (or text the key is part of) reaches the output on this path: "***" must stand in.
    redacted: bool = False
    verbosity: str = "-vv"
    extra: dict[str, str] = field(default_factory=dict)


def _config_with_key_as_number(setting: Setting) -> None:
    write_config(setting.workdir / "leaky.yaml", [{"name": "Sales", "numbers": [CANARY]}])


def _persona_named_like_the_key(setting: Setting) -> None:
    setting.sim.add_persona("p-canary", CANARY, [])
    write_config(setting.workdir / "named.yaml", [{"name": CANARY, "numbers": ["+14155550110"]}])


def _key_from_option_file(setting: Setting) -> None:
    setting.key_file(CANARY + "\n")
    setting.env("BLAND_API_KEY", None)


def _key_from_env_file(setting: Setting) -> None:
    setting.env("BLAND_API_KEY_FILE", setting.key_file(f"  {CANARY}\n"))
    setting.env("BLAND_API_KEY", None)


def _long_key_as_number(setting: Setting) -> None:
    setting.long_key()
    write_config(setting.workdir / "leaky.yaml", [{"name": "Sales", "numbers": [LONG_CANARY]}])


def _persona_named_like_the_long_key(setting: Setting) -> None:
    setting.long_key()
    setting.sim.add_persona("p-long", LONG_CANARY, [])
    write_config(
        setting.workdir / "long.yaml", [{"name": LONG_CANARY, "numbers": ["+14155550110"]}]
    )


def _persona_id_like_the_long_key(setting: Setting, persona_id: str = LONG_CANARY) -> None:
    setting.long_key()
    setting.sim.add_persona(persona_id, "Sales", [])
    write_config(setting.workdir / "by-id.yaml", [{"id": persona_id, "numbers": ["+14155550110"]}])


def _persona_id_holding_a_run_of_the_long_key(setting: Setting) -> None:
    # The key up to its first `#`, which no id sent in a path may hold (see the row above).
    _persona_id_like_the_long_key(setting, LONG_CANARY.split("#")[0])


def _long_key_in_option_file(setting: Setting) -> None:
    setting.sim.api_key = LONG_CANARY
    setting.key_file(LONG_CANARY + "\n")
    setting.env("BLAND_API_KEY", None)


def _long_key_in_a_file_others_can_read(setting: Setting) -> None:
    setting.sim.api_key = LONG_CANARY
    setting.key_file(LONG_CANARY + "\n", mode=0o644)
    setting.env("BLAND_API_KEY", None)


def _log_file_others_can_read(setting: Setting) -> None:
    (setting.workdir / "shared.log").touch(mode=0o644)
    os.chmod(setting.workdir / "shared.log", 0o644)


def _wrong_key(setting: Setting) -> None:
    setting.sim.api_key = "sk-the-account-expects-another-key"


def _reads_fail(setting: Setting) -> None:
    setting.sim.faults.read_statuses = [500] * 20


def _html_gateway_errors(setting: Setting) -> None:
    setting.sim.faults.update({"html_errors": True, "read_statuses": [502] * 20})


def _writes_fail(setting: Setting) -> None:
    setting.sim.faults.write_statuses = [500] * 50


def _rate_limited_once(setting: Setting) -> None:
    setting.sim.faults.update({"read_statuses": [429], "retry_after": "0"})


ROWS = [
    Row("validate", ("validate", CONFIG), 0),
    Row("validate: key pasted into the config", ("validate", "leaky.yaml"), 1,
        _config_with_key_as_number, redacted=True),
    Row("validate: a file named like the key", ("validate", CANARY), 1, redacted=True),
    Row("plan text", ("plan", CONFIG), 0),
    Row("plan json", ("plan", CONFIG, "--format", "json"), 0),
    Row("plan --detailed-exitcode", ("plan", CONFIG, "--detailed-exitcode"), 2),
    Row("plan: key pasted into the config", ("plan", "leaky.yaml"), 1,
        _config_with_key_as_number, redacted=True),
    Row("plan: API text holding the key", ("plan", "named.yaml"), 0,
        _persona_named_like_the_key, redacted=True),
    Row("plan json: API text holding the key", ("plan", "named.yaml", "--format", "json"), 0,
        _persona_named_like_the_key, redacted=True),
    Row("plan: key from --api-key-file", ("--api-key-file", "key.txt", "plan", CONFIG), 0,
        _key_from_option_file),
    Row("plan: key from BLAND_API_KEY_FILE", ("plan", CONFIG), 0, _key_from_env_file),
    Row("plan: httpx and httpcore debug logging", ("plan", CONFIG), 0, verbosity="-vvv"),
    Row("plan: wrong key (401)", ("plan", CONFIG), 1, _wrong_key),
    Row("plan: 500 until retries give up", ("plan", CONFIG), 1, _reads_fail),
    Row("plan: HTML 502 pages", ("plan", CONFIG), 1, _html_gateway_errors),
    Row("plan: 429 then success", ("plan", CONFIG), 0, _rate_limited_once),
    Row("plan: unreachable URL", ("plan", CONFIG), 1,
        lambda s: s.env("BLAND_API_URL", "http://127.0.0.1:9")),
    Row("plan: plain http to a remote host", ("plan", CONFIG), 1,
        lambda s: s.env("BLAND_API_URL", "http://api.bland.ai")),
    Row("plan: key with a line break", ("plan", CONFIG), 1,
        lambda s: s.env("BLAND_API_KEY", CANARY + "\nX-Other: 1"), redacted=False),
    Row("plan: no key", ("plan", CONFIG), 1, lambda s: s.env("BLAND_API_KEY", None)),
    Row("plan: key file is a folder", ("--api-key-file", ".", "plan", CONFIG), 1),
    Row("usage error quoting the key", ("--timeout", CANARY, "plan", CONFIG), 1, redacted=True),
    Row("apply", ("apply", CONFIG, "--auto-approve"), 0),
    Row("apply: no terminal to confirm", ("apply", CONFIG), 1),
    Row("apply: writes fail", ("apply", CONFIG, "--auto-approve"), 4, _writes_fail),
    Row("apply: wrong key (401)", ("apply", CONFIG, "--auto-approve"), 1, _wrong_key),
    Row("apply: key pasted into the config", ("apply", "leaky.yaml", "--auto-approve"), 1,
        _config_with_key_as_number, redacted=True),
    Row("apply: API text holding the key", ("apply", "named.yaml", "--auto-approve"), 0,
        _persona_named_like_the_key, redacted=True),
    Row("plan markdown", ("plan", CONFIG, "--format", "markdown"), 0),
    Row("plan markdown: API text holding the key", ("plan", "named.yaml", "--format", "markdown"),
        0, _persona_named_like_the_key, redacted=True),
    Row("plan --out: the plan file", ("plan", CONFIG, "--out", "saved.plan.json"), 0),
    Row("plan --out: API text holding the key", ("plan", "named.yaml", "--out", "saved.json"), 0,
        _persona_named_like_the_key, redacted=True),
    Row("apply --log-file", ("apply", CONFIG, "--auto-approve", "--log-file", "run.log"), 0),
    Row("apply --log-file: writes fail",
        ("apply", CONFIG, "--auto-approve", "--log-file", "run.log"), 4, _writes_fail),
    Row("apply --log-file: API text holding the key",
        ("apply", "named.yaml", "--auto-approve", "--log-file", "run.log"), 0,
        _persona_named_like_the_key, redacted=True),
    Row("export", ("export",), 0),
    Row("export --out", ("export", "--out", "exported.yaml"), 0),
    Row("export: API text holding the key", ("export", "--out", "exported.yaml"), 0,
        _persona_named_like_the_key),
    Row("export: wrong key (401)", ("export",), 1, _wrong_key),
    Row("usage error quoting the key from --api-key-file",
        ("--api-key-file", "key.txt", "--timeout", LONG_CANARY, "plan", CONFIG), 1,
        _long_key_in_option_file, redacted=True),
    Row("usage error: --max-rps quoting the key from --api-key-file=",
        ("--api-key-file=key.txt", "--max-rps", LONG_CANARY, "plan", CONFIG), 1,
        _long_key_in_option_file, redacted=True),
    Row("usage error of plan quoting the key from --api-key-file",
        ("--api-key-file", "key.txt", "plan", CONFIG, "--max-detach-percent", LONG_CANARY), 1,
        _long_key_in_option_file, redacted=True),
    Row("validate: a long key pasted into the config, cut short in the message",
        ("validate", "leaky.yaml"), 1, _long_key_as_number, redacted=True),
    Row("plan: API text holding a long key", ("plan", "long.yaml"), 0,
        _persona_named_like_the_long_key, redacted=True),
    Row("plan json: API text holding a long key", ("plan", "long.yaml", "--format", "json"), 0,
        _persona_named_like_the_long_key, redacted=True),
    Row("plan markdown: API text holding a long key",
        ("plan", "long.yaml", "--format", "markdown"), 0, _persona_named_like_the_long_key,
        redacted=True),
    Row("plan --out: API text holding a long key", ("plan", "long.yaml", "--out", "saved.json"),
        0, _persona_named_like_the_long_key, redacted=True),
    Row("apply --log-file: API text holding a long key",
        ("apply", "long.yaml", "--auto-approve", "--log-file", "run.log"), 0,
        _persona_named_like_the_long_key, redacted=True),
    Row("apply: a persona id holding a long key with # and \\, refused",
        ("apply", "by-id.yaml", "--auto-approve"), 1, _persona_id_like_the_long_key,
        redacted=True),
    Row("apply: a persona id holding a run of a long key, in URL paths at -vv",
        ("apply", "by-id.yaml", "--auto-approve"), 0, _persona_id_holding_a_run_of_the_long_key,
        redacted=True),
    Row("plan: a key file others can read", ("--api-key-file", "key.txt", "plan", CONFIG), 0,
        _long_key_in_a_file_others_can_read),
    Row("apply: a log file others can read",
        ("apply", CONFIG, "--auto-approve", "--log-file", "shared.log"), 0,
        _log_file_others_can_read),
    Row("plan --out over the key file",
        ("--api-key-file", "key.txt", "plan", CONFIG, "--out", "key.txt"), 1,
        _long_key_in_option_file),
    Row("plan: BLAND_TIMEOUT holding the key", ("plan", CONFIG), 1,
        lambda s: s.env("BLAND_TIMEOUT", CANARY), redacted=True),
    Row("plan: BLAND_API_URL with the key as its port", ("plan", CONFIG), 1,
        lambda s: s.env("BLAND_API_URL", f"http://127.0.0.1:{CANARY}"), redacted=True),
    Row("plan: a nan threshold", ("plan", CONFIG, "--max-detach-percent", "nan"), 1),
]  # fmt: skip


# Runs of the key in what the account holds: a persona's id and name, a number's label and its
# pathway_id; and a config that changes each of them, so every one is shown, saved and written.
LEAKY_ID = f"p-{CANARY[5:25]}"


def _account_holding_the_key(setting: Setting) -> None:
    sim = setting.sim
    sim.add_persona(LEAKY_ID, f"Team {CANARY[:15]}", ["+14155550110"])
    sim.add_number("+14155550110", f"Desk {CANARY}")
    sim.set_persona_settings(LEAKY_ID, "+14155550110", {"pathway_id": CANARY[2:22]})
    number = {"number": "+14155550110", "label": "Desk", "settings": {"pathway_id": "pw_new"}}
    write_config(setting.workdir / "held.yaml", [{"id": LEAKY_ID, "numbers": [number]}])


def _saved_plan_of_the_account_holding_the_key(setting: Setting) -> None:
    _account_holding_the_key(setting)
    with pytest.raises(SystemExit):
        main(["plan", "held.yaml", "--out", "held.plan.json"], seams=Settings())


# Every command, and every file a command writes, over the account holding the key (the test
# below fails when a command or an output file has no row here).
LEAKY_ROWS = [
    Row("held: validate", ("validate", "held.yaml"), 0, _account_holding_the_key),
    Row("held: plan", ("plan", "held.yaml"), 0, _account_holding_the_key, redacted=True),
    Row("held: plan json", ("plan", "held.yaml", "--format", "json"), 0,
        _account_holding_the_key, redacted=True),
    Row("held: plan markdown", ("plan", "held.yaml", "--format", "markdown"), 0,
        _account_holding_the_key, redacted=True),
    Row("held: plan --out", ("plan", "held.yaml", "--out", "saved.json"), 0,
        _account_holding_the_key, redacted=True),
    Row("held: apply --log-file",
        ("apply", "held.yaml", "--auto-approve", "--log-file", "run.log"), 0,
        _account_holding_the_key, redacted=True),
    Row("held: export", ("export",), 0, _account_holding_the_key, redacted=True),
    Row("held: export --out", ("export", "--out", "exported.yaml"), 0,
        _account_holding_the_key, redacted=True),
    # Redacted in the plan file before it is signed: show prints the saved plan, key hidden.
    Row("held: show", ("show", "held.plan.json"), 0,
        _saved_plan_of_the_account_holding_the_key, redacted=True),
    Row("held: doctor", ("doctor",), 0, _account_holding_the_key),
    Row("held: doctor json", ("doctor", "--format", "json"), 0, _account_holding_the_key),
]  # fmt: skip
# Path options and arguments that name what a run reads, not what it writes; the simulator plays
# the other side of the API and holds no key of the client's.
# Paths read, not written: the key file (a global option, also after each command), a plan.
READ_PATHS = {"api_key_file", "planfile"}
NOT_CLIENT = {"simulator"}


def test_every_command_and_output_file_has_a_row_over_an_account_holding_the_key() -> None:
    commands = {name: command for name, command in cli.commands.items() if name not in NOT_CLIENT}
    outputs = {
        (name, param.opts[0])
        for name, command in [("", cli), *commands.items()]
        for param in command.params
        if isinstance(param.type, click.Path)
        and param.param_type_name == "option"
        and param.name not in READ_PATHS
    }
    assert {next(arg for arg in row.args if arg in commands) for row in LEAKY_ROWS} == set(commands)
    covered = {
        (name, arg.split("=")[0])
        for row in LEAKY_ROWS
        for name in [next(arg for arg in row.args if arg in commands)]
        for arg in row.args
    }
    assert outputs <= covered, outputs - covered


def _files(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


def _readings(text: str) -> list[str]:
    """The text, and the text with its Markdown or JSON backslash escapes, HTML escapes or URL
    quoting undone."""
    return [text, re.sub(r"\\(.)", r"\1", text), html.unescape(text), unquote(text)]


def assert_no_piece_of_a_key(text: str, where: object) -> None:
    for reading in _readings(text):
        for piece in CANARY_PIECES:
            assert piece not in reading, (where, piece)


@pytest.mark.parametrize("row", ROWS + LEAKY_ROWS, ids=[row.name for row in ROWS + LEAKY_ROWS])
def test_the_key_never_appears(
    row: Row,
    sim: Simulator,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    if row.setup is not None:
        row.setup(Setting(sim, monkeypatch, tmp_path))
    before = _files(tmp_path)

    result = run_cli(row.verbosity, *row.args)

    assert result.code == row.code, result.err
    assert "Traceback" not in result.err
    written = {
        path: content for path, content in _files(tmp_path).items() if before.get(path) != content
    }
    assert_no_piece_of_a_key(result.out, "stdout")
    assert_no_piece_of_a_key(result.err, "stderr")
    for path, content in written.items():
        assert_no_piece_of_a_key(content.decode("utf-8", "replace"), path)
    if row.redacted:
        # Markdown shows *** as \*\*\*.
        assert "***" in _readings(result.out + result.err)[1]


@pytest.mark.parametrize("stale", [False, True], ids=["applies", "stale"])
def test_the_key_is_absent_from_a_saved_plan_and_its_apply(
    stale: bool, sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    saved = run_cli("-vv", "plan", CONFIG, "--out", "reviewed.plan.json")
    assert saved.code == 0, saved.err
    if stale:
        sim.set_owner("+14155550140", "7b0c4a9e-1d2f-4c3b-9a8e-5f6d7c8b9a01")
    applied = run_cli("-vv", "apply", "reviewed.plan.json", "--log-file", "run.log")
    assert applied.code == (3 if stale else 0), applied.err
    written = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    for text in (saved.out, saved.err, applied.out, applied.err, written.decode()):
        assert_no_piece_of_a_key(text, text)


def test_debug_logging_reaches_the_output_it_is_checked_in(sim: Simulator, run_cli: RunCli) -> None:
    """The -vvv row only proves something if httpx and httpcore really log there."""
    result = run_cli("-vvv", "plan", CONFIG)
    assert "httpcore" in result.err and "httpx" in result.err


def test_a_key_with_a_line_break_is_refused_naming_its_source(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_API_KEY", "sk-first-line\nsecond-line")
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert result.err == (
        "error: the API key from BLAND_API_KEY contains a space, a line break, a control or a "
        "non-ASCII character: an API key is one line of printable ASCII\n"
    )
    assert sim.requests == []


def test_plain_http_to_a_remote_host_is_refused_before_any_request(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_API_URL", "http://localhost.example.com:1")
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert "uses plain http to a remote host" in result.err


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "http://127.8.9.10:1", "http://[::1]:1", "http://localhost:1"]
)
def test_plain_http_is_allowed_to_loopback(
    url: str, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_API_URL", url)
    monkeypatch.setenv("BLAND_API_KEY", CANARY)
    result = run_cli("plan", CONFIG)
    # Nothing listens there: the refusal would be a different, earlier message.
    assert result.code == 1
    assert "plain http" not in result.err
    assert f"cannot connect to {url.removeprefix('http://')}: " in result.err


def test_the_json_plan_is_still_json_when_redacted(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _persona_named_like_the_key(Setting(sim, monkeypatch, tmp_path))
    result = run_cli("plan", "named.yaml", "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["changes"][0]["persona_name"] == "***"


def test_a_key_file_others_can_read_is_used_with_one_warning(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(CANARY + "\n")
    key_file.chmod(0o644)
    monkeypatch.delenv("BLAND_API_KEY")
    result = run_cli("--api-key-file", key_file, "plan", CONFIG)
    assert result.code == 0, result.err
    assert result.err == (
        f"warning: the API key file {key_file} can be read by group or others (mode 0644): "
        f"run chmod 600 {key_file}\n"
    )
    key_file.chmod(0o600)
    assert run_cli("--api-key-file", key_file, "plan", CONFIG).err == ""


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_api_is_never_reached_through_a_proxy(
    host: str,
    proxy: ProxyListener,
    sim: Simulator,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BLAND_API_URL", sim.url.replace("127.0.0.1", host))
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert proxy.requests == []  # the key went straight to loopback, not through the proxy
    assert len(sim.requests) > 0


def test_a_remote_https_api_still_goes_through_the_proxy(
    proxy: ProxyListener, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corporate proxy in front of the real API keeps working: only loopback bypasses it."""
    monkeypatch.setenv("BLAND_API_URL", "https://api.bland.invalid")
    monkeypatch.setenv("BLAND_API_KEY", CANARY)
    result = run_cli("plan", CONFIG)
    assert result.code == 1  # the listener hangs up: no answer
    assert proxy.requests
    assert all(r.startswith(b"CONNECT api.bland.invalid:443 ") for r in proxy.requests)
    # Through https the proxy sees where the request goes, never the key.
    assert not any(CANARY.encode() in r for r in proxy.requests)


@pytest.mark.parametrize("key", ["a", "1", "sk-1234"])
def test_a_key_too_short_to_be_a_key_leaves_output_readable_and_is_refused(
    key: str, sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_API_KEY", key)
    validated = run_cli("validate", CONFIG)
    assert validated.code == 0, validated.err
    assert validated.out.endswith("personas.yaml: valid (3 personas, 5 numbers)\n")
    planned = run_cli("plan", CONFIG)
    assert planned.code == 1
    assert planned.err == (
        f"error: the API key from BLAND_API_KEY is {len(key)} characters long: "
        "an API key has at least 8\n"
    )
    assert sim.requests == []


class KeyPipe:
    """A named pipe that gives the key to its first reader and nothing to any later one, as
    `--api-key-file <(pass show bland)` does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._closed = threading.Event()
        os.mkfifo(path, 0o600)
        self._thread = threading.Thread(target=self._write, daemon=True)
        self._thread.start()

    def _write(self) -> None:
        content = CANARY + "\n"
        while not self._closed.is_set():
            with self.path.open("w") as pipe:  # waits for a reader
                pipe.write(content)
            content = ""

    def close(self) -> None:
        """Stop the writer, which waits for one more reader."""
        self._closed.set()
        with contextlib.suppress(OSError):
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        self._thread.join(timeout=5)


@pytest.mark.parametrize(
    ("command", "code"),
    [(["plan", CONFIG, "--out", "saved.json"], 0), (["apply", "saved.json", "--auto-approve"], 0)],
)
def test_a_key_file_that_reads_once_serves_the_whole_run(
    command: list[str], code: int, sim: Simulator, run_cli: RunCli, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    if command[0] == "apply":
        assert run_cli("plan", CONFIG, "--out", "saved.json").code == 0
    monkeypatch.delenv("BLAND_API_KEY")
    pipe = KeyPipe(tmp_path / "key.pipe")
    try:
        result = run_cli("--api-key-file", pipe.path, *command)
    finally:
        pipe.close()
    assert result.code == code, result.err
