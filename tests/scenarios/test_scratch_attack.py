from __future__ import annotations
import json
from typing import Any
import pytest
from tests.conftest import CONFIG, RunCli
from tests.scenarios.test_attack_reads import BOTH, FREE, rewrite_inbound, set_pathway

VALUES = [
    {"persona_id": False}, {"persona_id": 0}, {"persona_id": ""}, {"persona_id": []},
    {"pathway_id": 0}, {"pathway_id": False}, {"pathway_id": {}}, {"pathway_id": ""},
    {"prompt": 1}, {"prompt": True}, {"prompt": "   "}, {"prompt": "\x1b[31mred\x07"},
    {"pathway_id": "pw\x1b[2J\nfake"}, {"pathway_id": "x" * 100000}, {"prompt": "p" * 3_000_000},
    {"pathway_id": "../../v1/personas"},
]

@pytest.mark.parametrize("value", VALUES, ids=[str(i) for i in range(len(VALUES))])
def test_explore(start_sim: Any, run_cli: RunCli, value: dict, tmp_path) -> None:
    sim = start_sim(**BOTH)
    set_pathway(sim, FREE, "pw-1")
    rewrite_inbound(sim, lambda es: [{**e, **value} if e["phone_number"] == FREE else e for e in es])
    r = run_cli("plan", CONFIG, "--force")
    with open("/tmp/attack_scratch/out.txt", "a") as f:
        f.write(f"VALUE {repr(value)[:80]} CODE {r.code}\nOUT {r.out[-700:]!r}\nERR {r.err[:300]!r}\n")
    e = run_cli("export", "--out", tmp_path / "e.yaml")
    print("EXPORT", e.code, repr(e.err[:200]))
