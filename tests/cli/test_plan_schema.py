"""schemas/plan.schema.json describes what `plan --format json` and `show --format json` print."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.model import UNREAD, ConfirmedOwners, PersonaRef, SourcesDisagree, routing_settings
from reconciler.plan import Action, Change, Plan
from reconciler.render import plan_document
from reconciler.simulator import Simulator
from tests.conftest import CONFIG, ROOT, RunCli

SCHEMA_PATH = ROOT / "schemas" / "plan.schema.json"


def schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return document


def validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def errors(document: Any) -> list[str]:
    return [error.message for error in validator().iter_errors(document)]


def test_the_schema_is_draft_2020_12_and_names_the_actions_once() -> None:
    document = schema()
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(document)
    # Every action the code knows, in one place in the schema; its order is the plan's order.
    assert document["$defs"]["action"]["enum"] == [action.value for action in Action]
    assert SCHEMA_PATH.read_text().count('"attach"') == 1


@pytest.fixture
def planned(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> dict[str, Any]:
    """The example plan (attaches, a move, a detach) as plan, show and masked show print it."""
    plan_file = tmp_path / "p.plan.json"
    printed = run_cli("plan", CONFIG, "--format", "json", "--out", plan_file)
    assert printed.code == 0, printed.err
    return {
        "plan": json.loads(printed.out),
        "show": json.loads(run_cli("show", plan_file, "--format", "json").out),
        "show --mask-numbers": json.loads(
            run_cli("show", plan_file, "--format", "json", "--mask-numbers").out
        ),
        "plan --mask-numbers": json.loads(
            run_cli("plan", CONFIG, "--format", "json", "--mask-numbers").out
        ),
    }


def test_real_output_is_valid(planned: dict[str, Any]) -> None:
    for name, document in planned.items():
        assert errors(document) == [], name
    changes = planned["plan"]["changes"]
    assert {change["action"] for change in changes} == {"attach", "move", "detach"}
    # Every action is counted, none left out: the summary's keys are the schema's actions.
    assert list(planned["plan"]["summary"]) == schema()["$defs"]["action"]["enum"]


def test_an_empty_plan_is_valid(sim: Simulator, run_cli: RunCli) -> None:
    assert run_cli("apply", CONFIG, "--auto-approve").code == 0
    document = json.loads(run_cli("plan", CONFIG, "--format", "json").out)
    assert document["changes"] == []
    assert errors(document) == []


def changed(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy with the value at `path` replaced (or removed when value is ...)."""
    copied = copy.deepcopy(document)
    target = copied
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copied


def test_what_the_schema_rejects(planned: dict[str, Any]) -> None:
    plan = planned["plan"]
    move = next(i for i, c in enumerate(plan["changes"]) if c["action"] == "move")
    attach = next(i for i, c in enumerate(plan["changes"]) if c["action"] == "attach")
    wrong = {
        "an unknown action": changed(plan, ("changes", attach, "action"), "rename"),
        "an unknown action in the summary": changed(plan, ("summary", "rename"), 1),
        "a negative count": changed(plan, ("summary", "detach"), -1),
        "a move without its source": changed(plan, ("changes", move, "from_persona_id"), ...),
        "an attach with a source": changed(plan, ("changes", attach, "from_persona_id"), "p"),
        "an unknown key": changed(plan, ("changes", attach, "label"), "x"),
        "a loosely written number": changed(plan, ("changes", attach, "phone_number"), "+1 415"),
        "another format version": changed(plan, ("format_version",), 2),
        "no summary": changed(plan, ("summary",), ...),
        "an extra top-level key": changed(plan, ("tool_version",), "0.1.0"),
        "no safety": changed(plan, ("safety",), ...),
        "apply_refuses not a boolean": changed(plan, ("safety", "apply_refuses"), "no"),
        "a valve that is not text": changed(plan, ("safety", "valves"), [1]),
        "an unknown safety key": changed(plan, ("safety", "forced"), True),
        "an attach that clears settings": changed(
            plan, ("changes", attach, "settings_cleared"), {"pathway_id": "pw_1"}
        ),
        "an unknown owner kind": changed(plan, ("changes", attach, "kind"), "robot"),
    }
    for name, document in wrong.items():
        assert errors(document) != [], name


def test_settings_label_and_owner_findings_are_valid_and_a_stray_field_is_not() -> None:
    pathway = routing_settings({"pathway_id": "pw_1", "pathway_version": 2})
    plan = Plan(
        (
            Change(Action.SETTINGS, "p-a", "A", "+14155550101", before=None, after=pathway),
            Change(Action.SETTINGS, "p-a", "A", "+14155550102", before=UNREAD, after=None),
            Change(Action.LABEL, "p-a", "A", "+14155550101", before="Old", after="Front desk"),
        ),
        confirmed=(
            ConfirmedOwners("+14155550103", (PersonaRef("p-a", "A"), PersonaRef("p-b", "B")), ()),
        ),
        disagreements=(SourcesDisagree("+14155550104", PersonaRef("p-c", ""), ()),),
    )
    document = plan_document(plan)
    assert {"confirmed_owners", "sources_disagree"} <= document.keys()
    assert errors(document) == []
    assert document["safety"] == {"apply_refuses": False, "valves": [], "protected": []}
    attach_with_after = copy.deepcopy(document)
    attach_with_after["changes"][0]["action"] = "attach"
    assert errors(attach_with_after) != []


def test_safety_findings_a_move_that_clears_settings_and_targets_are_valid() -> None:
    move = Change(Action.MOVE, "p-a", "A", "+14155550101", "p-b", "B")
    plan = Plan(
        (move,),
        settings_dropped={"+14155550101": routing_settings({"pathway_id": "pw_1"})},
        valves=("the plan leaves 'B' with none of its 1 number",),
        refusals=("+14155550101 is protected and the plan moves it from 'B' to 'A'",),
        targets=("A",),
    )
    document = plan_document(plan)
    assert document["changes"][0]["settings_cleared"] == {"pathway_id": "pw_1"}
    assert document["safety"] == {
        "apply_refuses": True,
        "valves": ["the plan leaves 'B' with none of its 1 number"],
        "protected": ["+14155550101 is protected and the plan moves it from 'B' to 'A'"],
    }
    assert errors(document) == []
    assert errors(changed(document, ("targets",), "A")) != []


@pytest.mark.parametrize("source", ["agent:ag_1", "pathway:pw_1", "prompt:+14155550101"])
def test_a_move_from_every_kind_of_owner_is_valid(source: str) -> None:
    move = Change(Action.MOVE, "p-a", "A", "+14155550101", source, "")
    document = plan_document(Plan((move,)))
    assert document["changes"][0]["from_kind"] == source.partition(":")[0]
    assert errors(document) == []
