"""The acceptance harness: a target account, the tool run against it, and the scratch routing.

A target is either the simulator in this process (`make test`) or the account named by the
environment (`make acceptance`: a live account, or a simulator run as its own process). The
scenarios change it only through the tool itself and, for the stale-plan scenario, one attach
through the client; they touch only the scratch personas, agents and numbers, and
`Scratch.restore` puts back the routing, per-number settings and labels recorded before the
first scenario.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.api import BlandClient
from reconciler.api.urls import persona_path
from reconciler.cli import Settings, main
from reconciler.model import owner_id, owner_key, owner_kind
from reconciler.owner_reads import read_account
from reconciler.simulator import Simulator
from tests.acceptance.snapshot import (
    Snapshot,
    label_fits,
    restorable,
    snapshot_differences,
    take_snapshot,
)
from tests.conftest import FakeTime

SWITCH = "RECONCILER_ACCEPTANCE"
PERSONAS_VAR = "RECONCILER_SCRATCH_PERSONAS"
NUMBERS_VAR = "RECONCILER_SCRATCH_NUMBERS"
AGENTS_VAR = "RECONCILER_SCRATCH_AGENTS"  # optional: v2 agents the agent scenario may route to
PATHWAY_VAR = "RECONCILER_SCRATCH_PATHWAY"
# The pathway the settings scenario sets on a scratch number when PATHWAY_VAR names none.
DEFAULT_PATHWAY = "pathway_reconciler_acceptance"
# The scenarios empty scratch personas and take numbers off them on purpose; the valves would
# refuse that. Numbers that are not scratch are listed as protected in every config instead.
SAFETY_FLAGS = ("--allow-emptying", "--max-detach-percent", "100")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass(frozen=True)
class Target:
    """The account the scenarios run against, and what they may change on it."""

    kind: str  # "simulator" (in this process) or "live" (from the environment)
    url: str
    key: str
    personas: tuple[str, str]
    numbers: tuple[str, ...]
    simulator: Simulator | None = None
    pathway: str = DEFAULT_PATHWAY
    fake_time: FakeTime = field(default_factory=FakeTime)
    agents: tuple[str, ...] = ()  # scratch v2 agents (none: the agent scenario is skipped)

    def client(self) -> BlandClient:
        """A client for the target (waits take no time against the in-process simulator)."""
        sleep = self.fake_time.sleep if self.simulator is not None else None
        return BlandClient(self.url, self.key, sleep=sleep)


def live_target(environ: Mapping[str, str]) -> Target:
    """The target named by the environment; skips without the switch, stops if it is unusable."""
    if environ.get(SWITCH) != "1":
        pytest.skip(f"acceptance against a live account is opt-in: set {SWITCH}=1")
    names = ("BLAND_API_URL", "BLAND_API_KEY", PERSONAS_VAR, NUMBERS_VAR)
    missing = [name for name in names if not environ.get(name, "").strip()]
    if missing:
        pytest.exit(f"acceptance: {SWITCH}=1 but {', '.join(missing)} not set", returncode=1)
    personas = _listed(environ[PERSONAS_VAR])
    numbers = _listed(environ[NUMBERS_VAR])
    problems = []
    if len(personas) != 2:
        problems.append(f"{PERSONAS_VAR} must name exactly two distinct persona ids")
    if len(numbers) < 2:
        problems.append(f"{NUMBERS_VAR} must name at least two distinct numbers")
    problems += [
        f"{number!r} is not an E.164 number" for number in numbers if not _E164.fullmatch(number)
    ]
    if problems:
        pytest.exit("acceptance: " + "; ".join(problems), returncode=1)
    return Target(
        "live",
        environ["BLAND_API_URL"],
        environ["BLAND_API_KEY"].strip(),
        (personas[0], personas[1]),
        numbers,
        pathway=environ.get(PATHWAY_VAR, "").strip() or DEFAULT_PATHWAY,
        agents=_listed(environ.get(AGENTS_VAR, "")),
    )


def _listed(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


@dataclass(frozen=True)
class Run:
    """How one run of the tool ended."""

    code: int
    out: str
    err: str


class Tool:
    """`reconciler ARGS...` run in this process against the target, as a user runs it."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def __call__(self, *args: str | Path) -> Run:
        seams = Settings(stdout_is_terminal=lambda: False)
        if self.target.simulator is not None:
            seams.sleep, seams.clock = self.target.fake_time.sleep, self.target.fake_time.monotonic
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as env:
            for name in ("BLAND_API_KEY_FILE", "BLAND_TIMEOUT"):
                env.delenv(name, raising=False)
            env.setenv("BLAND_API_URL", self.target.url)
            env.setenv("BLAND_API_KEY", self.target.key)
            env.setenv("NO_COLOR", "1")
            with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exited:
                main([str(arg) for arg in args], seams=seams)
        code = exited.value.code
        return Run(code if isinstance(code, int) else 1, out.getvalue(), err.getvalue())


def persona_problems(client: BlandClient, target: Target) -> list[str]:
    """Scratch personas that are not active personas of the account, scratch agents that are
    not agents of it."""
    live = read_account(client)
    return [
        f"scratch persona {pid} is not an active persona of the account"
        for pid in target.personas
        if pid not in live.personas or live.personas[pid].deleted
    ] + [
        f"scratch agent {agent} is not an agent of the account (GET /v2/agents)"
        for agent in target.agents
        if agent not in live.agents
    ]


def number_problems(client: BlandClient, target: Target, recorded: Snapshot) -> list[str]:
    """Scratch numbers the scenarios may not move (nothing: they may move them all)."""
    account = client.read_live().account_numbers
    problems = []
    for number in target.numbers:
        if number not in account:
            problems.append(f"scratch number {number} is not on the account (GET /v1/inbound)")
        scratch = {*target.personas, *(owner_key("agent", a) for a in target.agents)}
        held = [owner for owner in recorded.owners[number] if owner not in scratch]
        if held:
            on = f"{owner_kind(held[0])} {owner_id(held[0])}"
            problems.append(f"scratch number {number} is on {on}, not a scratch one")
    return problems


Entry = str | dict[str, Any]  # a config entry of `numbers`


class Scratch:
    """The scratch routing, changed only by the tool (and one direct attach), then restored."""

    def __init__(self, target: Target, workdir: Path, recorded: Snapshot) -> None:
        self.target = target
        self.tool = Tool(target)
        self.workdir = workdir
        self.recorded = recorded
        self.a, self.b = target.personas
        self.numbers = target.numbers
        # The scratch agents whose numbers the tool can read: the only ones it may manage.
        self.agents = [a for a in target.agents if owner_key("agent", a) in recorded.routing]
        self.kept = {
            owner: sorted(numbers - set(target.numbers))
            for owner, numbers in recorded.routing.items()
        }
        on_agents = {
            agent: [n for n in self.numbers if owner_key("agent", agent) in recorded.owners[n]]
            for agent in self.agents
        }
        self.recorded_config = self.config(
            [self.recorded_entry(n) for n in self.numbers if self.a in recorded.owners[n]],
            [self.recorded_entry(n) for n in self.numbers if self.b in recorded.owners[n]],
            name="recorded.yaml",
            agents=on_agents,
        )

    def recorded_entry(self, number: str) -> Entry:
        """A scratch number's config entry with the label and settings recorded for it.

        A value the account did not show is left out, so the tool leaves it as it is.
        """
        shown = self.recorded.objects.get(number, {})
        entry: dict[str, Any] = {"number": number}
        if "label" in shown and label_fits(shown["label"]):
            entry["label"] = shown["label"] or ""
        if "persona_settings" in shown:
            entry["settings"] = shown["persona_settings"]
        return entry if len(entry) > 1 else number

    def labelled_number(self) -> str | None:
        """A scratch number whose label was recorded (on a scratch persona), so it can be
        restored; None when the account showed no scratch number's label."""
        shown = [
            number
            for number in self.numbers
            if "label" in (recorded := self.recorded.objects.get(number, {}))
            and label_fits(recorded["label"])
        ]
        return shown[0] if shown else None

    def recorded_problems(self) -> list[str]:
        """Why the recorded config cannot be applied, if it cannot (`reconciler validate`)."""
        checked = self.tool("validate", self.recorded_config)
        if checked.code == 0:
            return []
        return [
            "the scratch numbers' recorded settings or labels cannot be written as a config, "
            f"so they could not be restored: {checked.err.strip()}"
        ]

    def number_object(self, persona: str, number: str) -> dict[str, Any]:
        """The label and settings of `number` as `persona` read by id shows them."""
        with self.target.client() as client:
            entries = client.get_json(persona_path(persona))["data"]["inbound_numbers"] or []
        for entry in entries:
            if isinstance(entry, dict) and entry.get("phone_number") == number:
                return restorable(entry)
        raise AssertionError(f"{number} is not shown as an object on {persona}: {entries}")

    def config(
        self,
        a: Sequence[Entry] = (),
        b: Sequence[Entry] = (),
        name: str = "scratch.yaml",
        agents: Mapping[str, Sequence[Entry]] | None = None,
    ) -> Path:
        """A config of the two scratch personas: their kept numbers plus `a` and `b` (numbers,
        or mappings with `number`, `label` and `settings` as the config takes them), and of
        the scratch agents in `agents`: their kept numbers plus the numbers given."""
        document: dict[str, Any] = {
            "version": 1,
            "personas": [
                {"id": self.a, "numbers": [*self.kept[self.a], *a]},
                {"id": self.b, "numbers": [*self.kept[self.b], *b]},
            ],
            "protected": sorted({n for kept in self.kept.values() for n in kept}),
        }
        if agents:
            document["agents"] = [
                {"id": agent, "numbers": [*self.kept[owner_key("agent", agent)], *numbers]}
                for agent, numbers in agents.items()
            ]
        path = self.workdir / name
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path

    def apply(self, *args: str | Path) -> Run:
        """`reconciler apply --auto-approve` with the scenarios' safety flags."""
        return self.tool("apply", "--auto-approve", *SAFETY_FLAGS, *args)

    def converge(self, a: Sequence[str] = (), b: Sequence[str] = ()) -> None:
        """Bring the scratch routing to `a` and `b` (every other scratch number on none, on
        no scratch agent either)."""
        agents = dict.fromkeys(self.agents, ())
        result = self.apply(self.config(a, b, name="start.yaml", agents=agents))
        assert result.code == 0, result.out + result.err
        self.assert_routing(a, b)

    def assert_routing(
        self, a: Sequence[str], b: Sequence[str], agents: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        """Read the account as plan does: each scratch number where `a`, `b` and `agents`
        (scratch agent -> numbers) say, kept numbers in place."""
        with self.target.client() as client:
            owners = read_account(client).owners
        expected: dict[str, tuple[str, ...]] = {number: () for number in self.numbers}
        expected.update({number: (self.a,) for number in a})
        expected.update({number: (self.b,) for number in b})
        for agent, numbers in (agents or {}).items():
            expected.update({number: (owner_key("agent", agent),) for number in numbers})
        kept = {number: (pid,) for pid, numbers in self.kept.items() for number in numbers}
        assert {n: owners.get(n, ()) for n in [*self.numbers, *kept]} == {**expected, **kept}

    def restore(self) -> None:
        """Apply the recorded routing, settings and labels with the tool, then read back
        everything recorded."""
        result = self.apply(self.recorded_config)
        with self.target.client() as client:
            now = take_snapshot(client, self.target)
        differences = snapshot_differences(self.recorded, now)
        if result.code != 0 or differences:
            raise AssertionError(
                "acceptance: the scratch routing, settings and labels were NOT restored "
                f"(apply exited {result.code}): {'; '.join(differences)}. Restore it with: "
                f"reconciler apply --auto-approve {' '.join(SAFETY_FLAGS)} "
                f"{self.recorded_config}\n{result.out}{result.err}"
            )


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so the scratch routing is restored.

    A cancelled CI job is sent SIGTERM, whose default ends pytest at once, before any restore.
    During an apply the tool's own handler takes over: it finishes the writes in flight.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def in_process_key() -> str:
    """The key of the in-process simulator, fresh for each session."""
    return "sk-acceptance-" + os.urandom(8).hex()
