"""Record what the CLI prints for the bad-input corpus and the demo scenario, to compare two trees.

    python scripts/golden.py OUT_DIR

runs the installed `reconciler` (from PATH) as a subprocess against a fresh simulator for each
scenario and writes one file per command: exit code, stdout and stderr, with the simulator's
address replaced by a fixed word. Run it before and after a change that must not alter behaviour,
then `diff -r BEFORE AFTER`. The demo's applies send one write at a time (`--parallelism 1`), so
that their write lines come in the plan's order rather than in the order concurrent writes end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "data" / "bad"
KEY = "golden-key-0123456789abcdef"
BAD_COMMANDS = {
    "validate": ["validate"],
    "plan": ["plan"],
    "plan-json": ["plan", "--format", "json"],
    "plan-markdown": ["plan", "--format", "markdown"],
    "apply": ["apply", "--auto-approve"],
}
ONE_WRITE_AT_A_TIME = ["--parallelism", "1"]


@contextmanager
def simulator(workdir: Path) -> Iterator[dict[str, str]]:
    """A simulator of the example account in its own process; yields the CLI's environment."""
    ready = workdir / "url"
    env = {**os.environ, "BLAND_API_KEY": KEY, "NO_COLOR": "1"}
    env.pop("BLAND_API_KEY_FILE", None)
    env.pop("BLAND_TIMEOUT", None)
    state = ROOT / "examples" / "account.json"
    command = ["reconciler", "simulator", "--state", str(state), "--port", "0"]
    process = subprocess.Popen(
        [*command, "--ready-file", str(ready)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if ready.exists() and ready.read_text().strip():
                break
            time.sleep(0.05)
        env["BLAND_API_URL"] = ready.read_text().strip()
        yield env
    finally:
        process.terminate()
        process.wait(timeout=10)


def record(out: Path, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
    """Run one command and write what it did to OUT/NAME."""
    done = subprocess.run(
        ["reconciler", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    url = env.get("BLAND_API_URL", "")
    text = f"exit {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    if url:
        text = text.replace(url, "SIMULATOR")
    text = text.replace(str(cwd), "WORKDIR").replace(str(ROOT), "ROOT")
    (out / name).write_text(text, encoding="utf-8")


def bad_corpus(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with simulator(workdir) as env:
            for case in sorted(BAD.iterdir()):
                if case.suffix not in {".yaml", ".yml", ".json"} or case.name == "expected.json":
                    continue
                for label, command in BAD_COMMANDS.items():
                    args = [*command, str(case.relative_to(ROOT))]
                    record(out, f"bad.{case.name}.{label}", args, env, ROOT)


def demo(out: Path) -> None:
    config = "examples/personas.yaml"
    steps = [
        ("1-validate", ["validate", config]),
        ("2-plan", ["plan", config]),
        ("3-plan-json", ["plan", "--format", "json", config]),
        ("4-plan-markdown", ["plan", "--format", "markdown", config]),
        ("5-plan-masked", ["plan", "--mask-numbers", config]),
        ("6-apply", ["apply", "--auto-approve", *ONE_WRITE_AT_A_TIME, config]),
        ("7-plan-again", ["plan", "--detailed-exitcode", config]),
        ("8-export", ["export"]),
        ("9-apply-again", ["apply", "--auto-approve", *ONE_WRITE_AT_A_TIME, config]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with simulator(workdir) as env:
            for name, args in steps:
                record(out, f"demo.{name}", args, env, ROOT)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    bad_corpus(out)
    demo(out)
    print(f"{len(list(out.iterdir()))} outputs in {out}")


if __name__ == "__main__":
    main()
