"""Plan files: round trip, integrity, atomic 0600 writes; staleness as read back from a file."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler import __version__
from reconciler.config import load_config
from reconciler.errors import InputError, StalePlan
from reconciler.model import Live, LivePersona, SafetySettings
from reconciler.plan import Action, Change, ManagedPersona, Plan
from reconciler.planfile import (
    ConfigSource,
    SavedPlan,
    config_sources,
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


# -- exact refusals, messages and outcomes ---------------------------------------------------


def _refusal(path: Path, reason: str) -> str:
    return f"{path}: {reason}: nothing was written. Run plan again."


def _document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _resealed(path: Path, document: dict[str, Any]) -> None:
    document["integrity"] = integrity_hash(document)  # consistent hash, inconsistent content
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2]", "not a plan file"),
        ('{"format": "something-else"}', "not a plan file"),
        (
            '{"format": "reconciler-plan", "format_version": 2}',
            f"plan file format version 2 is not supported (reconciler {__version__} reads "
            "version 1)",
        ),
        (
            '{"format": "reconciler-plan", "format_version": 1, "integrity": "sha256:0"}',
            "the plan file was altered after it was written (its integrity hash does not match "
            "its content)",
        ),
    ],
    ids=["a list", "another format", "a newer version", "altered"],
)
def test_each_refusal_names_the_file_and_its_reason(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(StalePlan) as refused:
        read_plan_file(str(path))
    assert str(refused.value) == _refusal(path, reason)


def test_a_truncated_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"format": "reconciler-plan", ')
    with pytest.raises(StalePlan) as refused:
        read_plan_file(str(path))
    assert str(refused.value).startswith(
        f"{path}: not a complete plan file, it may be truncated (Expecting"
    )


def test_a_missing_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(InputError) as refused:
        read_plan_file(str(path))
    assert str(refused.value) == f"{path}: cannot read the file (No such file or directory)"


@pytest.mark.parametrize(
    ("protected", "shown"),
    [
        ([1], "[1]"),
        ("+14155550130", '"+14155550130"'),
        (list(range(100)), json.dumps(list(range(100)))[:60]),
    ],
    ids=["not strings", "not a list", "cut at 60 characters"],
)
def test_a_malformed_field_is_refused_with_what_was_found(
    tmp_path: Path, protected: Any, shown: str
) -> None:
    path = saved_file(tmp_path)
    document = _document(path)
    document["protected"] = protected
    _resealed(path, document)
    with pytest.raises(StalePlan) as refused:
        read_plan_file(str(path))
    assert str(refused.value) == _refusal(
        path, f"not a valid plan file (TypeError: expected a list of strings, got {shown})"
    )


def test_the_saved_plan_knows_its_path_and_tool_version(tmp_path: Path) -> None:
    path = saved_file(tmp_path)
    back = read_plan_file(str(path))
    assert back.path == str(path)
    assert back.tool_version == __version__
    with pytest.raises(StalePlan) as refused:
        check_target(back, "https://us.api.bland.ai")
    assert str(refused.value) == _refusal(
        path, "the plan was made for https://api.bland.ai, not for https://us.api.bland.ai"
    )


def test_config_sources_hash_the_bytes_that_were_validated_not_a_second_read(
    tmp_path: Path,
) -> None:
    config = tmp_path / "personas.yaml"
    validated = b"version: 1\npersonas:\n  - name: Sales\n    numbers: []\n"
    config.write_bytes(validated)
    desired = load_config([config])
    config.write_bytes(b"version: 1\npersonas: []\n")  # edited after validation
    plan = Plan((), config_files=desired.files, config_digests=desired.digests)
    assert config_sources(plan) == (
        ConfigSource(str(config), hashlib.sha256(validated).hexdigest()),
    )


def test_the_integrity_hash_is_of_sorted_compact_utf8_json_without_itself() -> None:
    document = {"b": "Café", "a": [1, 2], "integrity": "sha256:old"}
    canonical = '{"a":[1,2],"b":"Café"}'.encode()
    assert integrity_hash(document) == "sha256:" + hashlib.sha256(canonical).hexdigest()


def test_the_file_is_indented_json_that_keeps_names_as_written(tmp_path: Path) -> None:
    named = replace(PLAN, changes=(Change(Action.ATTACH, SUPPORT, "Café", "+14155550101"),))
    text = render_plan_file(named, thresholds=THRESHOLDS, api_base_url=URL, config=SOURCES)
    assert text.startswith('{\n  "format": "reconciler-plan",\n  "format_version": 1,\n')
    assert text.endswith("\n}\n")
    assert '"persona_name": "Café"' in text
    assert json.loads(text)["summary"] == {
        "attach": 1,
        "move": 0,
        "detach": 0,
        "settings": 0,
        "label": 0,
    }


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://user:secret@[::1]:8443/v1/", "https://[::1]:8443/v1"),
        ("https://api.example/X/", "https://api.example/X"),
        ("http:///only/a/path/", "http:///only/a/path"),
    ],
)
def test_public_url(url: str, public: str) -> None:
    assert public_url(url) == public


def _saved_by_hand(plan: Plan, names: dict[str, str] | None = None) -> SavedPlan:
    given = plan.persona_names() if names is None else names
    return SavedPlan("plan.json", plan, URL, __version__, SOURCES, given)


@pytest.mark.parametrize(
    ("names", "shown"),
    [({SALES: "Sales (as planned)"}, "Sales (as planned)"), ({}, "Sales")],
    ids=["the name when planned", "the managed entry's name"],
)
def test_a_persona_that_no_longer_exists_is_named(
    tmp_path: Path, names: dict[str, str], shown: str
) -> None:
    back = read_plan_file(str(saved_file(tmp_path)))
    without_sales = live(
        *(p for p in BEFORE.personas.values() if p.id != SALES),
        extra=("+14155550101", "+14155550105"),
    )
    gone = f"persona {shown!r} ({SALES}) no longer exists"
    assert differences(_saved_by_hand(back.plan, names), without_sales) == [gone]
    if names:
        with pytest.raises(StalePlan) as refused:
            plan_to_apply(back, without_sales)
        assert str(refused.value) == (
            f"{back.path}: the account changed since the plan was made, nothing was written: "
            f"persona 'Sales' ({SALES}) no longer exists. Run plan again."
        )


def test_every_number_gone_from_the_account_is_named(tmp_path: Path) -> None:
    back = saved(tmp_path)
    shrunk = live(
        persona(SUPPORT, "Support", "+14155550100", "+14155550103"),
        persona(IVR, "Legacy IVR", "+14155550130"),
        persona(SALES, "Sales"),
    )
    assert differences(back, shrunk) == [
        "+14155550101 is no longer an inbound number of the account",
        "+14155550102 is no longer an inbound number of the account",
    ]


def test_a_deleted_managed_persona_does_not_stop_the_check_of_the_others(tmp_path: Path) -> None:
    back = saved(tmp_path)
    now = live(
        persona(SUPPORT, "Support", "+14155550100", "+14155550103", deleted=True),
        persona(IVR, "Legacy IVR", "+14155550102", "+14155550130"),
        persona(SALES, "Sales", "+14155550105"),
        extra=("+14155550101",),
    )
    assert differences(back, now) == [
        f"persona 'Support' ({SUPPORT}) has been deleted",
        "+14155550100 is now on no persona (it was on 'Support' when planned)",
        "+14155550103 is now on no persona (it was on 'Support' when planned)",
        "+14155550105 is now on 'Sales' (it was on no managed persona when planned)",
    ]


@pytest.mark.parametrize(
    ("holders", "shown"),
    [
        ((("p-2", "Amy"), ("p-1", "Zed")), "'Amy' and 'Zed'"),
        ((("p-3", "Cy"), ("p-1", "Zed"), ("p-2", "Amy")), "'Amy', 'Cy' and 'Zed'"),
    ],
    ids=["two", "three"],
)
def test_a_stale_message_names_every_owner_in_name_order(
    tmp_path: Path, holders: tuple[tuple[str, str], ...], shown: str
) -> None:
    back = saved(tmp_path)
    now = live(
        persona(SUPPORT, "Support", "+14155550100", "+14155550103"),
        persona(IVR, "Legacy IVR", "+14155550130"),
        persona(SALES, "Sales"),
        *(persona(pid, name, "+14155550102") for pid, name in holders),
        extra=("+14155550101", "+14155550105"),
    )
    assert differences(back, now) == [
        f"+14155550102 is now on {shown} (it was on 'Legacy IVR' when planned)"
    ]


def _many_numbers_plan(count: int) -> SavedPlan:
    added = [f"+1415556{n:04d}" for n in range(count)]
    plan = Plan(
        changes=tuple(Change(Action.ATTACH, SALES, "Sales", n) for n in added),
        managed=(ManagedPersona(SALES, "Sales", frozenset(), frozenset(added)),),
        owners={n: () for n in added},
    )
    return _saved_by_hand(plan)


@pytest.mark.parametrize(("count", "more"), [(20, ""), (21, "; and 1 more"), (25, "; and 5 more")])
def test_a_stale_message_shows_20_differences_and_counts_the_rest(count: int, more: str) -> None:
    saved_plan = _many_numbers_plan(count)
    with pytest.raises(StalePlan) as refused:
        plan_to_apply(saved_plan, live(persona(SALES, "Sales")))
    shown = "; ".join(
        f"+1415556{n:04d} is no longer an inbound number of the account" for n in range(20)
    )
    assert str(refused.value) == (
        "plan.json: the account changed since the plan was made, nothing was written: "
        f"{shown}{more}. Run plan again."
    )


def test_an_empty_saved_plan_against_a_changed_account_is_refused_not_already_applied() -> None:
    empty = Plan(
        changes=(),
        managed=(
            ManagedPersona(
                SUPPORT, "Support", frozenset({"+14155550100"}), frozenset({"+14155550100"})
            ),
        ),
        owners={"+14155550100": (SUPPORT,)},
    )
    saved_plan = _saved_by_hand(empty)
    changed = live(persona(SUPPORT, "Support"), persona(IVR, "IVR", "+14155550100"))
    assert not already_applied(saved_plan, changed)
    with pytest.raises(StalePlan, match=r"\+14155550100 is now on 'IVR' \(it was on 'Support'"):
        plan_to_apply(saved_plan, changed)
    unchanged = live(persona(SUPPORT, "Support", "+14155550100"))
    assert not already_applied(saved_plan, unchanged)
    assert plan_to_apply(saved_plan, unchanged).changes == ()


@pytest.mark.parametrize("support", ["deleted", "gone"])
def test_a_plan_is_not_already_applied_when_a_managed_persona_is_deleted_or_gone(
    tmp_path: Path, support: str
) -> None:
    back = saved(tmp_path)
    others = [p for p in AFTER.personas.values() if p.id != SUPPORT]
    if support == "deleted":
        others.append(replace(AFTER.personas[SUPPORT], deleted=True))
    now = Live({p.id: p for p in others}, AFTER.account_numbers, pages_read=1)
    assert not already_applied(back, now)


def test_a_change_to_a_number_the_fingerprint_lacks_is_not_taken_as_applied() -> None:
    plan = Plan(
        changes=(Change(Action.ATTACH, SALES, "Sales", "+14155550101"),),
        managed=(ManagedPersona(SALES, "Sales", frozenset(), frozenset({"+14155550101"})),),
        owners={},
    )
    assert already_applied(_saved_by_hand(plan), live(persona(SALES, "Sales", "+14155550101")))


GHOST = "p-ghost"  # an owner only GET /v1/inbound names


@pytest.mark.parametrize("applied", [False, True])
def test_the_plan_to_apply_carries_the_live_owners_pages_and_unlisted(
    tmp_path: Path, applied: bool
) -> None:
    back = saved(tmp_path)
    base = AFTER if applied else BEFORE
    now = Live(
        base.personas,
        base.account_numbers | {"+14155550199"},
        pages_read=3,
        inbound_owners={"+14155550199": GHOST},
    )
    ready = plan_to_apply(back, now)
    assert ready.is_empty is applied
    assert ready.owners == now.owners()
    assert ready.owners["+14155550199"] == (GHOST,)
    assert ready.pages_read == 3
    assert ready.unlisted == frozenset({GHOST})


def test_an_owner_known_only_from_the_inbound_list_is_checked_through_a_plan_file(
    tmp_path: Path,
) -> None:
    before = Live(
        {SALES: persona(SALES, "Sales")},
        frozenset({"+14155550102"}),
        pages_read=1,
        inbound_owners={"+14155550102": GHOST},
    )
    plan = Plan(
        changes=(Change(Action.MOVE, SALES, "Sales", "+14155550102", GHOST, ""),),
        managed=(ManagedPersona(SALES, "Sales", frozenset(), frozenset({"+14155550102"})),),
        owners=before.owners(),
    )
    back = read_plan_file(str(saved_file(tmp_path, plan)))
    assert back.plan.owners == {"+14155550102": (GHOST,)}
    assert plan_to_apply(back, before).changes == plan.changes
    elsewhere = replace(before, inbound_owners={"+14155550102": "p-other"})
    with pytest.raises(StalePlan) as refused:
        plan_to_apply(back, elsewhere)
    assert "+14155550102 is now on 'p-other' (it was on 'p-ghost' when planned)" in str(
        refused.value
    )
    after = Live({SALES: persona(SALES, "Sales", "+14155550102")}, before.account_numbers)
    assert already_applied(back, after)


def test_a_plan_that_empties_a_persona_since_deleted_is_stale_not_applied() -> None:
    plan = Plan(
        changes=(Change(Action.DETACH, SALES, "Sales", "+14155550110"),),
        managed=(ManagedPersona(SALES, "Sales", frozenset({"+14155550110"}), frozenset()),),
        owners={"+14155550110": (SALES,)},
    )
    now = live(persona(SALES, "Sales", deleted=True), extra=("+14155550110",))
    saved_plan = _saved_by_hand(plan)
    assert not already_applied(saved_plan, now)
    with pytest.raises(StalePlan, match=f"persona 'Sales' \\({SALES}\\) has been deleted"):
        plan_to_apply(saved_plan, now)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("NaN", "not a valid plan file (NaN is not a number JSON allows)"),
        ("Infinity", "not a valid plan file (Infinity is not a number JSON allows)"),
        ("-Infinity", "not a valid plan file (-Infinity is not a number JSON allows)"),
        (
            "1e999",
            "not a valid plan file (ValueError: max_detach_percent inf is not from 0 to 100)",
        ),
        (
            "100.5",
            "not a valid plan file (ValueError: max_detach_percent 100.5 is not from 0 to 100)",
        ),
    ],
)
def test_a_threshold_that_is_not_a_number_from_0_to_100_is_refused(
    value: str, reason: str, tmp_path: Path
) -> None:
    """Python's json writes and reads NaN; a NaN threshold switched the valve off."""
    path = saved_file(tmp_path)
    document = _document(path)
    document["safety"]["max_detach_percent"] = float(value)
    document["integrity"] = integrity_hash(document)  # as an older version would have sealed it
    path.write_text(json.dumps(document).replace(json.dumps(float(value)), value))
    with pytest.raises(StalePlan) as refused:
        read_plan_file(str(path))
    assert str(refused.value) == _refusal(path, reason)


def test_a_huge_min_numbers_is_refused_not_an_overflow(tmp_path: Path) -> None:
    path = saved_file(tmp_path)
    document = _document(path)
    document["safety"]["min_numbers"] = float("inf")
    document["integrity"] = integrity_hash(document)
    path.write_text(json.dumps(document).replace("Infinity", "1e999"))
    with pytest.raises(StalePlan, match="min_numbers inf is not a whole number"):
        read_plan_file(str(path))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_numbers", -3),
        ("min_numbers", 2.5),
        ("min_numbers", "5"),
        ("min_numbers", True),
        ("allow_emptying", "no"),
        ("allow_emptying", 1),
        ("allow_emptying", None),
        ("max_detach_percent", "25"),
        ("max_detach_percent", True),
    ],
)
def test_a_safety_value_of_the_wrong_kind_is_refused_not_converted(
    name: str, value: Any, tmp_path: Path
) -> None:
    """bool("no") is True: a plan file saying allow_emptying "no" switched the valve off."""
    path = saved_file(tmp_path)
    document = _document(path)
    document["safety"][name] = value
    _resealed(path, document)
    with pytest.raises(StalePlan) as refused:
        read_plan_file(str(path))
    assert f"not a valid plan file (ValueError: {name} {value!r} is not " in str(refused.value)
