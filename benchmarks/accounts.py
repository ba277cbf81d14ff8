"""Synthetic accounts for the benchmarks: a simulator state file and the matching config file.

An account has `personas` managed personas with `numbers_each` numbers apiece, plus one unmanaged
persona and a few spare numbers that drift draws on. A `drift` share of the managed personas
differs from the config, in three kinds taken in turn so that every action of a plan is exercised:

- attach: the persona's last declared number is on no persona;
- move:   the persona's last declared number is held by the unmanaged persona;
- detach: the persona also holds a spare number the config does not list.

Everything is deterministic: the same arguments always give the same files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNMANAGED_ID = "ffffffff-0000-4000-8000-000000000000"


def persona_id(index: int) -> str:
    return f"{index:08x}-0000-4000-8000-{index:012x}"


def phone(index: int) -> str:
    # +1 and ten digits starting with 2: a possible North American number for every index.
    return f"+1{2_000_000_000 + index}"


@dataclass(frozen=True)
class Account:
    """What was generated and what a correct apply must do to it."""

    personas: int
    numbers_each: int
    drift: float
    state: dict[str, Any]
    config_text: str
    drifted: int
    gaining: int  # personas that need an attach call
    losing: int  # personas that need a detach call
    # Declared numbers on no persona (the attach kind): each looks free on the listing, so a
    # plan reads it by number (GET /v1/inbound/{number}) before attaching it.
    looks_free: int

    @property
    def numbers(self) -> int:
        return self.personas * self.numbers_each


def drifted_indexes(personas: int, drift: float) -> list[int]:
    """Evenly spread indexes of the personas that drift."""
    count = round(personas * drift)
    if count <= 0:
        return []
    step = personas / count
    return [int(i * step) for i in range(count)]


def build(personas: int, numbers_each: int, drift: float = 0.0) -> Account:
    """An account of `personas` x `numbers_each` numbers with a `drift` share drifted."""
    drifted = drifted_indexes(personas, drift)
    kind = {index: ("attach", "move", "detach")[n % 3] for n, index in enumerate(drifted)}
    if numbers_each == 0:
        kind = {index: "detach" for index in drifted}
    spares = [phone(personas * numbers_each + n) for n in range(len(drifted))]
    unmanaged: list[str] = []
    live_personas: list[dict[str, Any]] = []
    config = ["version: 1", "personas:"]
    gaining = losing = looks_free = 0
    for index in range(personas):
        declared = [phone(index * numbers_each + n) for n in range(numbers_each)]
        held = list(declared)
        drift_kind = kind.get(index)
        if drift_kind == "attach":
            held.pop()
            gaining += 1
            looks_free += 1
        elif drift_kind == "move":
            unmanaged.append(held.pop())
            gaining += 1
        elif drift_kind == "detach":
            held.append(spares.pop())
            losing += 1
        name = f"Persona {index:06d}"
        live_personas.append({"id": persona_id(index), "name": name, "numbers": held})
        config.append(f"  - id: {persona_id(index)}")
        config.append(f"    name: {name}")
        if declared:
            config.append("    numbers:")
            config.extend(f'      - "{number}"' for number in declared)
        else:
            config.append("    numbers: []")
    # The pool keeps lines of its own, as a real IVR does: moves take some of its numbers, and
    # taking all of them would (rightly) trip the emptying valve.
    first_own = personas * numbers_each + len(drifted)
    own = [phone(first_own + n) for n in range(max(10, 4 * len(unmanaged)))]
    live_personas.append({"id": UNMANAGED_ID, "name": "Unmanaged pool", "numbers": unmanaged + own})
    total = first_own + len(own)
    state = {
        "numbers": [phone(n) for n in range(total)],
        "personas": live_personas,
    }
    return Account(
        personas=personas,
        numbers_each=numbers_each,
        drift=drift,
        state=state,
        config_text="\n".join(config) + "\n",
        drifted=len(drifted),
        gaining=gaining,
        losing=losing,
        looks_free=looks_free,
    )


def write(account: Account, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write `<stem>.state.json` and `<stem>.yaml` into folder; returns both paths."""
    state_path = folder / f"{stem}.state.json"
    config_path = folder / f"{stem}.yaml"
    state_path.write_text(json.dumps(account.state, separators=(",", ":")), encoding="utf-8")
    config_path.write_text(account.config_text, encoding="utf-8")
    return state_path, config_path
