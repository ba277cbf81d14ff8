"""Loading simulator state files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler.simulator import Simulator, StateError, load_state
from tests.unit.simulator.conftest import KEY, N1, N2


def test_state_loading(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"personas": [{"id": "p", "name": "P", "numbers": [N1]}]}))
    sim = Simulator(load_state(path), api_key=KEY)
    assert sim.owners() == {N1: ["p"]}
    sim.add_persona("q", "Q", numbers=[N1, N2])
    assert sim.owners() == {N1: ["q"], N2: ["q"]}
    sim.set_owner(N2, None)
    assert sim.persona_numbers("q") == [N1]
    with pytest.raises(ValueError):
        sim.add_persona("q", "again")
    for text in ("{", "[]", '{"personas": [{"name": "no id"}]}', '{"numbers": [{"label": 1}]}'):
        path.write_text(text)
        with pytest.raises(StateError, match=re.escape(str(path))):
            load_state(path)
    with pytest.raises(StateError, match=r"missing\.json"):
        load_state(tmp_path / "missing.json")
