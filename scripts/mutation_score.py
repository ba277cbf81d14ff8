"""Print the mutation score of the last `mutmut run` (see docs/testing.md, "Mutation testing").

Reads the results mutmut left under mutants/ for the modules of `[tool.mutmut] only_mutate` in
pyproject.toml, and the mutants judged equivalent (no test can kill them: they change no
behaviour) from the table in docs/testing.md. Prints killed/total and killed/(total minus
equivalent), per module and overall, and lists every survivor not judged equivalent.
Exits 1 when a module has no results (mutmut did not run) or a listed equivalent is unknown.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "testing.md"
# mutmut 3's exit codes: 1 and 3 are kills (a test failed, or pytest itself broke on the mutant).
KILLED = {1, 3}
SURVIVED = {0}
TIMEOUT = {24, -24, 152, 255, 36}
_NAME = re.compile(r"`(reconciler\.[\w.ǁ]+__mutmut_\d+)`")


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def equivalent() -> set[str]:
    """Mutant names in the 'Equivalent mutants' section of docs/testing.md."""
    text = DOC.read_text() if DOC.exists() else ""
    section = text.partition("## Equivalent mutants")[2].partition("\n## ")[0]
    return set(_NAME.findall(section))


def score(label: str, codes: dict[str, int | None], judged: set[str]) -> str:
    counts = Counter(
        "killed"
        if code in KILLED
        else "timeout"
        if code in TIMEOUT
        else "survived"
        if code in SURVIVED
        else "other"
        for code in codes.values()
    )
    total = len(codes)
    killed = counts["killed"] + counts["timeout"]
    eq = sum(1 for name in judged & codes.keys() if codes[name] not in KILLED | TIMEOUT)
    behaviour = total - eq
    return (
        f"{label:<34} {killed:>4}/{total:<4} killed = {100 * killed / max(total, 1):5.1f}%   "
        f"{killed:>4}/{behaviour:<4} of those that change behaviour = "
        f"{100 * killed / max(behaviour, 1):5.1f}%   ({eq} equivalent"
        + (f", {counts['other']} not run" if counts["other"] else "")
        + ")"
    )


def main() -> int:
    judged = equivalent()
    everything: dict[str, int | None] = {}
    lines = []
    for module in modules():
        meta = ROOT / "mutants" / (module + ".meta")
        if not meta.exists():
            print(f"{meta}: no results; run `make mutation`", file=sys.stderr)
            return 1
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        everything |= codes
        lines.append(score(module, codes, judged))
    unknown = sorted(judged - everything.keys())
    print("\n".join(lines))
    print(score("all core decision modules", everything, judged))
    survivors = sorted(k for k, v in everything.items() if v in SURVIVED)
    unexplained = [k for k in survivors if k not in judged]
    if unexplained:
        print(f"\n{len(unexplained)} surviving mutants not judged equivalent (`mutmut show NAME`):")
        for name in unexplained:
            print(f"  {name}: exit code {everything[name]}")
    if unknown:
        print(f"\ndocs/testing.md lists mutants mutmut did not make: {unknown}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
