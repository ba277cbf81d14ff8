"""Plan files: what they carry, their signature, atomic 0600 writes, and what is refused on
reading. Whether the account still gives the saved plan is core's (tests/unit/test_core.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import __version__
from reconciler.config.load import load_config
from reconciler.errors import InputError, Refused
from reconciler.model import (
    UNREAD,
    ConfirmedOwners,
    Desired,
    DesiredPersona,
    PersonaRef,
    SourceMark,
    SourcesDisagree,
    routing_settings,
)
from reconciler.plan import Action, Change, ManagedPersona, Plan
from reconciler.planfile import (
    SavedPlan,
    is_plan_file,
    plan_from_document,
    public_url,
    read_plan_file,
    render_plan_file,
    signing_key,
)
from reconciler.render import plan_document
from reconciler.safety import Thresholds

SUPPORT, IVR, SALES = "p-support", "p-ivr", "p-sales"
URL = "https://api.bland.ai"
KEY = signing_key("sk-test-key")
PW1 = routing_settings({"pathway_id": "pw_1"})
PW2 = routing_settings({"pathway_id": "pw_2", "pathway_version": 2})

DESIRED = Desired(
    (
        DesiredPersona(
            SUPPORT,
            None,
            ("+14155550100", "+14155550101", "+14155550102"),
            SourceMark("personas.yaml", 3, 5),
            {},
            {"+14155550100": PW2, "+14155550101": None},
            {"+14155550100": "Front"},
        ),
        DesiredPersona(None, "Sales", (), SourceMark("personas.yaml", 9, 5)),
    ),
    files=("personas.yaml",),
    protected=("+14155550130",),
    digests={"personas.yaml": "ab" * 32},
)
# Support has 100 and 103, wants 100, 101 (free) and 102 (from the IVR); 103 goes.
PLAN = Plan(
    changes=(
        Change(Action.ATTACH, SUPPORT, "Support", "+14155550101"),
        Change(Action.MOVE, SUPPORT, "Support", "+14155550102", IVR, "Legacy IVR"),
        Change(Action.DETACH, SUPPORT, "Support", "+14155550103"),
        Change(Action.SETTINGS, SUPPORT, "Support", "+14155550100", before=PW1, after=PW2),
        Change(Action.LABEL, SUPPORT, "Support", "+14155550100", before=UNREAD, after="Front"),
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
    protected=("+14155550130",),
    settings_dropped={"+14155550102": PW1},
    valves=("a valve",),
    forced=True,
    confirmed=(
        ConfirmedOwners(
            "+14155550102",
            (PersonaRef(IVR, "Legacy IVR"), PersonaRef("p-x", "Old Desk")),
            (PersonaRef(IVR, "Legacy IVR"),),
        ),
    ),
    disagreements=(
        SourcesDisagree("+14155550105", PersonaRef("p-hidden", ""), (PersonaRef(SALES, "Sales"),)),
    ),
)
THRESHOLDS = Thresholds(max_detach_percent=40, min_numbers=5, allow_emptying=True)


def render(plan: Plan = PLAN, desired: Desired = DESIRED, url: str = URL, **options: Any) -> str:
    return render_plan_file(
        desired,
        plan,
        thresholds=THRESHOLDS,
        api_base_url=url,
        key=KEY,
        **options,
    )


def saved_file(tmp_path: Path, plan: Plan = PLAN, url: str = URL) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(render(plan, url=url))
    return path


def saved(tmp_path: Path) -> SavedPlan:
    return read_plan_file(str(saved_file(tmp_path)), KEY)


def seal(document: dict[str, Any], key: bytes = KEY) -> None:
    """Sign the document as the tool does (docs/plan-files.md): HMAC-SHA256 of its sorted,
    compact UTF-8 JSON without `integrity`, keyed by the key derived from the API key."""
    content = {name: value for name, value in document.items() if name != "integrity"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
    document["integrity"] = "hmac-sha256:" + digest


def _document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _resealed(path: Path, document: dict[str, Any]) -> None:
    seal(document)  # a valid signature over content the tool would never write
    path.write_text(json.dumps(document))


def test_round_trip_keeps_what_apply_and_show_need(tmp_path: Path) -> None:
    back = saved(tmp_path)
    assert back.desired == DESIRED
    assert back.desired.digests == DESIRED.digests
    assert back.thresholds == THRESHOLDS
    assert back.document == plan_document(PLAN)
    assert back.api_base_url == URL
    assert back.desired.files == ("personas.yaml",)
    assert back.tool_version == __version__
    # What show prints: the plan as shown, names included.
    assert back.plan.changes == PLAN.changes
    assert back.plan.settings_dropped == {"+14155550102": PW1}
    assert (back.plan.valves, back.plan.refusals, back.plan.forced) == (("a valve",), (), True)
    assert back.plan.confirmed == PLAN.confirmed
    assert back.plan.disagreements == PLAN.disagreements
    assert plan_document(back.plan) == plan_document(PLAN)


def test_the_document_names_its_format_and_signs_its_content(tmp_path: Path) -> None:
    document = _document(saved_file(tmp_path))
    assert list(document)[:3] == ["format", "format_version", "tool_version"]
    assert (document["format"], document["format_version"]) == ("reconciler-plan", 2)
    assert document["config"] == [{"path": "personas.yaml", "sha256": "ab" * 32}]
    assert document["safety"] == {
        "max_detach_percent": 40,
        "min_numbers": 5,
        "allow_emptying": True,
    }
    assert document["desired"]["protected"] == ["+14155550130"]
    assert document["desired"]["entries"][0]["mark"] == ["personas.yaml", 3, 5]
    assert document["plan"]["changes"][1] == {
        "action": "move",
        "persona_id": SUPPORT,
        "persona_name": "Support",
        "phone_number": "+14155550102",
        "from_persona_id": IVR,
        "from_persona_name": "Legacy IVR",
        "kind": "persona",
        "from_kind": "persona",
        "settings_cleared": {"pathway_id": "pw_1"},
    }
    assert document["persona_names"] == {
        IVR: "Legacy IVR",
        SALES: "Sales",
        SUPPORT: "Support",
        "p-hidden": "",
        "p-x": "Old Desk",
    }
    signed = dict(document)
    seal(signed)
    assert document["integrity"] == signed["integrity"]
    assert document["integrity"].startswith("hmac-sha256:")


def test_the_signing_key_is_derived_from_the_api_key_and_never_written(tmp_path: Path) -> None:
    text = render()
    assert "sk-test-key" not in text
    assert KEY.hex() not in text
    assert signing_key("sk-test-key") == KEY
    assert signing_key("sk-other") != KEY
    assert len(KEY) == 32


def test_the_signature_is_of_sorted_compact_utf8_json_without_itself() -> None:
    document = {"b": "Café", "a": [1, 2], "integrity": "hmac-sha256:old"}
    canonical = '{"a":[1,2],"b":"Café"}'.encode()
    seal(document)
    assert document["integrity"] == (
        "hmac-sha256:" + hmac.new(KEY, canonical, hashlib.sha256).hexdigest()
    )


def _rewrite(path: Path, edit: str) -> None:
    document = _document(path)
    if edit == "hand edit":
        document["plan"]["changes"][0]["phone_number"] = "+14155550105"
    elif edit == "signed by hand":
        document["desired"]["entries"][0]["numbers"].append("+14155550105")
        document["integrity"] = "hmac-sha256:" + hashlib.sha256(b"guess").hexdigest()
    elif edit == "new version":
        document["format_version"] = 9
        seal(document)
    path.write_text(json.dumps(document, indent=2))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("hand edit", "altered after it was written"),
        ("signed by hand", "altered after it was written"),
        ("new version", "format version 9 is not supported"),
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
    with pytest.raises(Refused, match=message) as refused:
        read_plan_file(str(path), KEY)
    assert str(refused.value).endswith("nothing was written. Run plan again.")


def test_a_plan_made_with_another_key_is_refused(tmp_path: Path) -> None:
    path = saved_file(tmp_path)
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), signing_key("sk-another-account"))
    assert str(refused.value) == _refusal(path, "the plan was made with another API key")


def test_a_plan_signed_again_without_the_key_is_refused_even_with_its_key_id(
    tmp_path: Path,
) -> None:
    path = saved_file(tmp_path)
    document = _document(path)
    document["desired"]["protected"] = []
    seal(document, signing_key("sk-attacker"))  # key_id kept: only the signature is forged
    path.write_text(json.dumps(document))
    with pytest.raises(Refused, match="its signature does not match its content"):
        read_plan_file(str(path), KEY)


def test_without_a_key_the_signature_is_not_checked(tmp_path: Path) -> None:
    """show has no key: it reads the file as it is, and apply checks the signature."""
    path = saved_file(tmp_path)
    _rewrite(path, "hand edit")
    back = read_plan_file(str(path), None)
    assert back.plan.changes[0].phone_number == "+14155550105"
    with pytest.raises(Refused, match="altered after it was written"):
        read_plan_file(str(path), KEY)


def test_a_config_file_is_not_a_plan_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"version": 1, "personas": []}))
    assert not is_plan_file(str(config))
    assert not is_plan_file(str(tmp_path / "missing.json"))


def _refusal(path: Path, reason: str) -> str:
    return f"{path}: {reason}: nothing was written. Run plan again."


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2]", "not a plan file"),
        ('{"format": "something-else"}', "not a plan file"),
        (
            '{"format": "reconciler-plan", "format_version": 1}',
            f"plan file format version 1 is not supported (reconciler {__version__} reads "
            "version 2)",
        ),
        (
            '{"format": "reconciler-plan", "format_version": 2, "key_id": "0"}',
            "the plan was made with another API key",
        ),
    ],
    ids=["a list", "another format", "an older version", "another key"],
)
def test_each_refusal_names_the_file_and_its_reason(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), KEY)
    assert str(refused.value) == _refusal(path, reason)


def test_an_altered_file_names_the_file_and_its_reason(tmp_path: Path) -> None:
    path = saved_file(tmp_path)
    document = _document(path)
    document["integrity"] = "hmac-sha256:0"
    path.write_text(json.dumps(document))
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), KEY)
    assert str(refused.value) == _refusal(
        path,
        "the plan file was altered after it was written (its signature does not match its content)",
    )


def test_a_truncated_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"format": "reconciler-plan", ')
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), KEY)
    assert str(refused.value).startswith(
        f"{path}: not a complete plan file, it may be truncated (Expecting"
    )


def test_a_missing_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(InputError) as refused:
        read_plan_file(str(path), KEY)
    assert str(refused.value) == f"{path}: no such file"


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
    document["desired"]["protected"] = protected
    _resealed(path, document)
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), KEY)
    assert str(refused.value) == _refusal(
        path, f"not a valid plan file (expected a list of strings, got {shown})"
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("plan", "changes", 3, "after"), "pw_2"),  # settings must be an object or null
        (("plan", "changes", 3, "before_known"), "yes"),
        (("plan", "changes", 4, "after"), None),  # a label change writes a string
        (("plan", "changes", 1, "settings_cleared"), "pw_1"),
        (("plan", "safety", "valves"), "a valve"),
        (("desired", "entries", 0, "labels"), {"+14155550100": 3}),
        (("desired", "entries", 0, "settings"), {"+14155550100": []}),
        (("desired", "entries", 0, "numbers"), "+14155550100"),
    ],
)
def test_a_plan_file_with_malformed_values_is_refused(
    tmp_path: Path, path: tuple[Any, ...], value: Any
) -> None:
    file = saved_file(tmp_path)
    document = _document(file)
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _resealed(file, document)
    with pytest.raises(Refused, match="not a valid plan file"):
        read_plan_file(str(file), KEY)


def test_a_plan_file_missing_several_keys_is_refused_naming_persona_names(
    tmp_path: Path,
) -> None:
    path = saved_file(tmp_path)
    document = _document(path)
    del document["desired"], document["persona_names"]
    _resealed(path, document)
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), KEY)
    assert str(refused.value) == _refusal(path, "not a valid plan file (KeyError: 'persona_names')")


def test_a_null_change_is_refused_by_the_check_of_each_change(tmp_path: Path) -> None:
    path = saved_file(tmp_path)
    document = _document(path)
    document["plan"]["changes"][0] = None
    _resealed(path, document)
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), KEY)
    reason = "not a valid plan file (TypeError: 'NoneType' object is not subscriptable)"
    assert str(refused.value) == _refusal(path, reason)


def test_a_value_error_is_shown_as_it_says_without_the_name_of_the_exception(
    tmp_path: Path,
) -> None:
    path = saved_file(tmp_path)
    document = _document(path)
    document["plan"]["changes"][0]["action"] = "bogus"
    _resealed(path, document)
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), KEY)
    reason = "not a valid plan file ('bogus' is not a valid Action)"
    assert str(refused.value) == _refusal(path, reason)


def test_config_sources_hash_the_bytes_that_were_validated_not_a_second_read(
    tmp_path: Path,
) -> None:
    config = tmp_path / "personas.yaml"
    validated = b"version: 1\npersonas:\n  - name: Sales\n    numbers: []\n"
    config.write_bytes(validated)
    desired = load_config([config])
    config.write_bytes(b"version: 1\npersonas: []\n")  # edited after validation
    document = json.loads(render(Plan(()), desired))
    assert document["config"] == [
        {"path": str(config), "sha256": hashlib.sha256(validated).hexdigest()}
    ]


def test_the_file_is_indented_json_that_keeps_names_as_written() -> None:
    named = Plan(changes=(Change(Action.ATTACH, SUPPORT, "Café", "+14155550101"),))
    text = render(named)
    assert text.startswith('{\n  "format": "reconciler-plan",\n  "format_version": 2,\n')
    assert text.endswith("\n}\n")
    assert '"persona_name": "Café"' in text
    assert json.loads(text)["plan"]["summary"] == {
        "attach": 1,
        "move": 0,
        "detach": 0,
        "settings": 0,
        "label": 0,
    }


def test_the_url_is_saved_without_credentials(tmp_path: Path) -> None:
    assert public_url("https://user:secret@api.bland.ai:8443/") == "https://api.bland.ai:8443"
    path = saved_file(tmp_path, url="https://user:secret@api.bland.ai/")
    assert "secret" not in path.read_text()
    assert read_plan_file(str(path), KEY).api_base_url == URL


def test_every_string_is_redacted_before_signing_and_the_file_still_checks(
    tmp_path: Path,
) -> None:
    named = Plan(changes=(Change(Action.ATTACH, SUPPORT, "Desk sk-live-1", "+14155550101"),))
    text = render(named, redact=lambda s: s.replace("sk-live-1", "[redacted]"))
    assert "sk-live-1" not in text
    path = tmp_path / "plan.json"
    path.write_text(text)
    back = read_plan_file(str(path), KEY)
    assert back.plan.changes[0].persona_name == "Desk [redacted]"
    assert back.document["changes"][0]["persona_name"] == "Desk [redacted]"


def test_a_plan_document_reads_back_as_the_plan_show_prints() -> None:
    document = plan_document(PLAN)
    back = plan_from_document(document, PLAN.persona_names())
    assert plan_document(back) == document
    refused = plan_document(Plan(changes=(), valves=("a valve",)))
    assert plan_from_document(refused, {}).refused


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


PERCENT = "max_detach_percent, a number from 0 to 100"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("NaN", "not a valid plan file (NaN is not a number JSON allows)"),
        ("Infinity", "not a valid plan file (Infinity is not a number JSON allows)"),
        ("-Infinity", "not a valid plan file (-Infinity is not a number JSON allows)"),
        ("1e999", f"not a valid plan file (expected {PERCENT}, got Infinity)"),
        ("100.5", f"not a valid plan file (expected {PERCENT}, got 100.5)"),
    ],
)
def test_a_threshold_that_is_not_a_number_from_0_to_100_is_refused(
    value: str, reason: str, tmp_path: Path
) -> None:
    """Python's json writes and reads NaN; a NaN threshold switched the valve off."""
    path = saved_file(tmp_path)
    document = _document(path)
    document["safety"]["max_detach_percent"] = float(value)
    seal(document)  # signed with the key, as a tool that wrote NaN would have
    path.write_text(json.dumps(document).replace(json.dumps(float(value)), value))
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), KEY)
    assert str(refused.value) == _refusal(path, reason)


def test_a_huge_min_numbers_is_refused_not_an_overflow(tmp_path: Path) -> None:
    path = saved_file(tmp_path)
    document = _document(path)
    document["safety"]["min_numbers"] = float("inf")
    seal(document)
    path.write_text(json.dumps(document).replace("Infinity", "1e999"))
    with pytest.raises(Refused, match="expected min_numbers, a whole number >= 0, got Infinity"):
        read_plan_file(str(path), KEY)


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
    refusal = _refused_with_safety(tmp_path, name, value)
    assert f"not a valid plan file (expected {name}, " in refusal
    assert refusal.endswith(f", got {json.dumps(value)}): nothing was written. Run plan again.")


def _refused_with_safety(tmp_path: Path, name: str, value: Any) -> str:
    """The refusal of a saved plan whose safety `name` was set to `value` and sealed again."""
    path = saved_file(tmp_path)
    document = _document(path)
    document["safety"][name] = value
    _resealed(path, document)
    with pytest.raises(Refused) as refused:
        read_plan_file(str(path), KEY)
    return str(refused.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("min_numbers", -1, "min_numbers, a whole number >= 0"),
        ("max_detach_percent", 100.5, PERCENT),
        ("max_detach_percent", -1, PERCENT),
    ],
)
def test_a_safety_value_out_of_range_is_refused_without_calling_it_a_type_error(
    name: str, value: Any, expected: str, tmp_path: Path
) -> None:
    reason = f"not a valid plan file (expected {expected}, got {json.dumps(value)})"
    assert _refused_with_safety(tmp_path, name, value) == _refusal(tmp_path / "plan.json", reason)
