"""Plan files: round trip, integrity, atomic 0600 writes, staleness messages."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import InputError, StalePlan
from reconciler.model import Live, LivePersona, SafetySettings
from reconciler.plan import Action, Change, ManagedPersona, Plan
from reconciler.planfile import (
    ConfigSource,
    SavedPlan,
    integrity_hash,
    is_plan_file,
    public_url,
    read_plan_file,
    render_plan_file,
    write_plan_file,
)
from reconciler.safety import Thresholds
from reconciler.staleness import already_applied, check_target, differences, plan_to_apply

SUPPORT, IVR, SALES = "p-support", "p-ivr", "p-sales"
URL = "https://api.bland.ai"


def live(*personas: LivePersona, extra: tuple[str, ...] = ()) -> Live:
    numbers = {n for p in personas for n in p.numbers} | set(extra)
    return Live({p.id: p for p in personas}, frozenset(numbers), pages_read=1)


def persona(pid: str, name: str, *numbers: str, deleted: bool = False) -> LivePersona:
    return LivePersona(pid, name, frozenset(numbers), deleted)


# Planned: Support has 100 and 103, wants 100, 101 (free) and 102 (from the IVR); 103 goes.
BEFORE = live(
    persona(SUPPORT, "Support", "+14155550100", "+14155550103"),
    persona(IVR, "Legacy IVR", "+14155550102", "+14155550130"),
    persona(SALES, "Sales"),
    extra=("+14155550101", "+14155550105"),
)
AFTER = live(
    persona(SUPPORT, "Support", "+14155550100", "+14155550101", "+14155550102"),
    persona(IVR, "Legacy IVR", "+14155550130"),
    persona(SALES, "Sales"),
    extra=("+14155550103", "+14155550105"),
)
PLAN = Plan(
    changes=(
        Change(Action.ATTACH, SUPPORT, "Support", "+14155550101"),
        Change(Action.MOVE, SUPPORT, "Support", "+14155550102", IVR, "Legacy IVR"),
        Change(Action.DETACH, SUPPORT, "Support", "+14155550103"),
    ),
    managed=(
        ManagedPersona(
            SUPPORT,
            "Support",
            frozenset({"+14155550100", "+14155550103"}),
            frozenset({"+14155550100", "+14155550101", "+14155550102"}),
        ),
        ManagedPersona(SALES, "Sales", frozenset(), frozenset()),
    ),
    owners=BEFORE.owners(),
    protected=("+14155550130",),
)
THRESHOLDS = Thresholds(max_detach_percent=40, min_numbers=5, allow_emptying=True)
SOURCES = (ConfigSource("personas.yaml", "ab" * 32),)


def saved_file(tmp_path: Path, plan: Plan = PLAN, url: str = URL) -> Path:
    path = tmp_path / "plan.json"
    text = render_plan_file(plan, thresholds=THRESHOLDS, api_base_url=url, config=SOURCES)
    write_plan_file(str(path), text)
    return path


def saved(tmp_path: Path) -> SavedPlan:
    return read_plan_file(str(saved_file(tmp_path)))


def test_round_trip_keeps_what_apply_needs(tmp_path: Path) -> None:
    back = saved(tmp_path)
    assert back.plan.changes == PLAN.changes
    assert back.plan.managed == PLAN.managed
    assert back.plan.protected == ("+14155550130",)
    assert back.plan.safety == SafetySettings(40.0, 5, True)
    assert back.api_base_url == URL
    assert back.config == SOURCES
    # The fingerprint: owners of touched numbers and of numbers on managed personas.
    assert back.plan.owners == {
        "+14155550100": (SUPPORT,),
        "+14155550101": (),
        "+14155550102": (IVR,),
        "+14155550103": (SUPPORT,),
    }
    assert back.names[IVR] == "Legacy IVR"


def test_the_document_names_its_format_and_hashes_its_content(tmp_path: Path) -> None:
    document = json.loads(saved_file(tmp_path).read_text())
    assert list(document)[:3] == ["format", "format_version", "tool_version"]
    assert document["format"] == "reconciler-plan"
    assert document["changes"][1] == {
        "action": "move",
        "persona_id": SUPPORT,
        "persona_name": "Support",
        "phone_number": "+14155550102",
        "from_persona_id": IVR,
        "from_persona_name": "Legacy IVR",
    }
    assert document["integrity"] == integrity_hash(document)
    assert document["integrity"].startswith("sha256:")


def test_write_is_0600_replaces_atomically_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old")
    path.chmod(0o644)
    old_umask = os.umask(0)
    try:
        write_plan_file(str(path), "new\n")
    finally:
        os.umask(old_umask)
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_write_into_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot write the plan file"):
        write_plan_file(str(tmp_path / "missing" / "plan.json"), "{}")


def _rewrite(path: Path, edit: str) -> None:
    document = json.loads(path.read_text())
    if edit == "hand edit":
        document["changes"][0]["phone_number"] = "+14155550105"
    elif edit == "new version":
        document["format_version"] = 2
        document["integrity"] = integrity_hash(document)
    path.write_text(json.dumps(document, indent=2))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("hand edit", "altered after it was written"),
        ("new version", "format version 2 is not supported"),
        ("truncated", "not a complete plan file"),
    ],
)
def test_altered_plan_files_are_refused(tmp_path: Path, edit: str, message: str) -> None:
    path = saved_file(tmp_path)
    if edit == "truncated":
        path.write_bytes(path.read_bytes()[:-200])
    else:
        _rewrite(path, edit)
    assert is_plan_file(str(path))  # still recognised, so it is refused rather than misread
    with pytest.raises(StalePlan, match=message) as refused:
        read_plan_file(str(path))
    assert str(refused.value).endswith("nothing was written. Run plan again.")


def test_a_change_outside_the_fingerprint_is_refused(tmp_path: Path) -> None:
    path = saved_file(tmp_path)
    document = json.loads(path.read_text())
    del document["fingerprint"]["owners"]["+14155550101"]
    document["integrity"] = integrity_hash(document)  # consistent hash, inconsistent content
    path.write_text(json.dumps(document))
    with pytest.raises(StalePlan, match="the fingerprint does not cover"):
        read_plan_file(str(path))


def test_a_config_file_is_not_a_plan_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"version": 1, "personas": []}))
    assert not is_plan_file(str(config))
    assert not is_plan_file(str(tmp_path / "missing.json"))


def test_the_url_is_saved_without_credentials_and_checked(tmp_path: Path) -> None:
    assert public_url("https://user:secret@api.bland.ai:8443/") == "https://api.bland.ai:8443"
    back = saved(tmp_path)
    check_target(back, "https://api.bland.ai/")
    with pytest.raises(
        StalePlan, match=r"made for https://api\.bland\.ai, not for https://us\.api"
    ):
        check_target(back, "https://us.api.bland.ai")


def test_an_unchanged_account_gives_the_saved_changes(tmp_path: Path) -> None:
    back = saved(tmp_path)
    assert differences(back, BEFORE) == []
    assert plan_to_apply(back, BEFORE).changes == PLAN.changes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda: live(
                persona(SUPPORT, "Support", "+14155550100", "+14155550103"),
                persona(IVR, "Legacy IVR", "+14155550101", "+14155550102", "+14155550130"),
                persona(SALES, "Sales"),
                extra=("+14155550105",),
            ),
            "+14155550101 is now on 'Legacy IVR' (it was on no persona when planned)",
        ),
        (
            lambda: live(
                persona(SUPPORT, "Support", "+14155550100", "+14155550103"),
                persona(IVR, "Legacy IVR", "+14155550130"),
                persona(SALES, "Sales"),
                extra=("+14155550101", "+14155550102", "+14155550105"),
            ),
            "+14155550102 is now on no persona (it was on 'Legacy IVR' when planned)",
        ),
        (
            lambda: live(
                persona(SUPPORT, "Support", "+14155550100", "+14155550103"),
                persona(IVR, "Legacy IVR", "+14155550102", "+14155550130"),
                persona(SALES, "Sales", "+14155550105"),
                extra=("+14155550101",),
            ),
            "+14155550105 is now on 'Sales' (it was on no managed persona when planned)",
        ),
        (
            lambda: live(
                persona(SUPPORT, "Support", "+14155550100", "+14155550103"),
                persona(IVR, "Legacy IVR", "+14155550102", "+14155550130"),
                persona(SALES, "Sales", deleted=True),
                extra=("+14155550101", "+14155550105"),
            ),
            f"persona 'Sales' ({SALES}) has been deleted",
        ),
    ],
)
def test_each_difference_is_named(tmp_path: Path, change: Callable[[], Live], message: str) -> None:
    back = saved(tmp_path)
    now = change()
    assert differences(back, now) == [message]
    with pytest.raises(StalePlan) as refused:
        plan_to_apply(back, now)
    assert message in str(refused.value)
    assert str(refused.value).endswith("Run plan again.")


def test_an_applied_plan_is_recognised_and_applies_as_nothing(tmp_path: Path) -> None:
    back = saved(tmp_path)
    assert not already_applied(back, BEFORE)
    assert already_applied(back, AFTER)
    again = plan_to_apply(back, AFTER)
    assert again.is_empty
    assert all(persona.live == persona.desired for persona in again.managed)
