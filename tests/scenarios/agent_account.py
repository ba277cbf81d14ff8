"""An account with personas, a v2 agent holding numbers through its twin, and an agent with none,
for the attack scenarios on agents."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from reconciler.simulator import Simulator

SUPPORT, SALES, TWIN = "p-support", "p-sales", "p-twin-bot"
BOT, NEW = "ag-bot", "ag-new"
N100, N101, N102, N103, N104, N105, N106 = (f"+1415555010{i}" for i in range(7))

STATE: dict[str, Any] = {
    "numbers": [
        N100, N101, N102, {"phone_number": N103, "pathway_id": "pw-ivr"}, N104, N105, N106,
    ],
    "personas": [
        {"id": SUPPORT, "name": "Support", "numbers": [N100, N106]},
        {"id": SALES, "name": "Sales", "numbers": [N104]},
        {"id": TWIN, "name": "Bot", "numbers": [N101, N105], "tags": [f"v2-agent:{BOT}"]},
    ],
    "agents": [
        {"id": BOT, "name": "Bot", "versions": 2, "production_version_id": "v-2",
         "updated_at": "2026-01-01T00:00:00Z"},
        {"id": NEW, "name": "New", "versions": 1, "production_version_id": "v-1"},
    ],
}  # fmt: skip


def state(filler_agents: int = 0) -> dict[str, Any]:
    """The account, with `filler_agents` more agents updated after Bot (so the list of 500,
    newest first, leaves Bot out once there are 500 of them)."""
    account = copy.deepcopy(STATE)
    account["agents"] += [
        {"id": f"ag-fill-{i:03}", "name": f"Fill {i}", "updated_at": "2026-06-01T00:00:00Z"}
        for i in range(filler_agents)
    ]
    return account


def config(tmp_path: Path, personas: list[Any], agents: list[Any], **extra: Any) -> Path:
    """A config file with these persona and agent entries."""
    path = tmp_path / "routing.yaml"
    document = {"version": 1, "personas": personas, "agents": agents, **extra}
    path.write_text(json.dumps(document, indent=2))
    return path


def writes(sim: Simulator) -> list[tuple[str, list[str]]]:
    """(path, numbers) of every attach or detach the simulator answered 200."""
    return [
        (record.path, sorted(record.body["inbound_numbers"]))
        for record in sim.writes()
        if record.status == 200
        and isinstance(record.body, dict)
        and "inbound_numbers" in record.body
    ]
