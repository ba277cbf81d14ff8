"""The core without the CLI: plans from a config or a saved plan, the check before the writes,
and convergence after them (the next plan is the check). Fake accounts stand in for the API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.result import ApplyResult, Write
from reconciler.apply.writes import OnWrite, PlanWriter
from reconciler.core import (
    apply,
    converge,
    differences,
    make_plan,
    plan_from_saved,
)
from reconciler.errors import ApiError, AuthError, Refused
from reconciler.model import (
    Desired,
    DesiredPersona,
    InboundRoute,
    Live,
    LiveAgent,
    LivePersona,
    PersonaRef,
    SourceMark,
    routing_settings,
)
from reconciler.plan import Action, Change, Plan
from reconciler.planfile import (
    SavedPlan,
    read_plan_file,
    render_plan_file,
    signing_key,
)
from reconciler.render import MAX_FINDINGS_SHOWN, plan_document
from reconciler.safety import Thresholds
from reconciler.secrets import REDACTOR
from reconciler.settings import GracefulStop, end_now
from tests.unit.apply import fakes

KEY = signing_key("sk-test")
URL = "https://api.bland.ai"
SUPPORT, IVR = "p-support", "p-ivr"
ATTACH = Change(Action.ATTACH, SUPPORT, "Support", "+14155550101")
MOVE = Change(Action.MOVE, SUPPORT, "Support", "+14155550102", IVR, "Legacy IVR")
DETACH = Change(Action.DETACH, SUPPORT, "Support", "+14155550103")
PW1 = routing_settings({"pathway_id": "pw_1"})
PW2 = routing_settings({"pathway_id": "pw_2"})


@dataclass
class FakeAccount:
    """An account reader that counts its reads; `by_id` is what a read by id finds, if it differs
    from the listing (a listing read while the account changed)."""

    live: Live
    base_url: str = URL
    reads: list[Live] = field(default_factory=list)
    by_id: dict[str, LivePersona] = field(default_factory=dict)
    read_by_id: list[str] = field(default_factory=list)
    relist: dict[str, LivePersona] | None = None
    relists: list[int] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    # Whether GET /v1/inbound/{number} names the persona (undocumented there); it reads the
    # account as it is now (`relist` when given), not as the first listing saw it.
    route_names_persona: bool = True

    def read_live(self, pages_hint: int = 0) -> Live:
        self.reads.append(self.live)
        return self.live

    def get_persona(self, persona_id: str) -> LivePersona:
        self.read_by_id.append(persona_id)
        return self.by_id.get(persona_id) or self.live.personas[persona_id]

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]:
        self.relists.append(pages_hint)
        listing = self.relist if self.relist is not None else self.live.personas
        return dict(listing), self.live.pages_read

    def list_account_numbers(self) -> frozenset[str]:
        return self.live.account_numbers

    def list_agents(self) -> tuple[list[LiveAgent], bool]:
        raise ApiError("Not found", status=404)  # an API without agents

    def inbound_number(self, number: str) -> InboundRoute:
        self.routes.append(number)
        now = self.relist if self.relist is not None else self.live.personas
        held = [p.id for p in now.values() if number in p.numbers]
        if not self.route_names_persona:
            return InboundRoute(number, None, None)  # persona_id UNREAD
        return InboundRoute(number, None, None, held[0] if held else None)


def account(*numbers_on_support: str, free: tuple[str, ...] = ()) -> FakeAccount:
    support = LivePersona(SUPPORT, "Support", frozenset(numbers_on_support))
    numbers = frozenset(numbers_on_support) | frozenset(free)
    return FakeAccount(Live({SUPPORT: support}, numbers, pages_read=1))


def wanting(*numbers: str) -> Desired:
    entry = DesiredPersona(SUPPORT, None, numbers, SourceMark("c.yaml", 1, 1))
    return Desired((entry,), files=("c.yaml",))


def plan_from_config(desired: Desired, reader: FakeAccount, **options: bool) -> Plan:
    return make_plan(desired, reader, Thresholds(), **options)


def test_make_plan_reads_the_account_once() -> None:
    reader = account("+14155550100", free=("+14155550101",))
    plan = plan_from_config(wanting("+14155550100", "+14155550101"), reader)
    assert plan.changes == (Change(Action.ATTACH, SUPPORT, "Support", "+14155550101"),)
    assert len(reader.reads) == 1


def test_make_plan_fills_in_what_the_safety_checks_find() -> None:
    reader = account("+14155550100", "+14155550101")
    emptying = wanting()
    plan = plan_from_config(emptying, reader)
    assert plan.valves == ("the plan leaves 'Support' with none of its 2 numbers",)
    assert plan.refusals == ()
    assert plan.refused and not plan.forced
    forced = plan_from_config(emptying, reader, force=True)
    assert forced.valves == plan.valves and forced.forced and not forced.refused
    guarded = make_plan(protecting(emptying, "+14155550101"), reader, Thresholds(), force=True)
    assert guarded.refusals == (
        "+14155550101 is protected and the plan detaches it from 'Support'",
    )
    assert guarded.refused


def test_make_plan_uses_the_thresholds_given() -> None:
    reader = account("+14155550100", "+14155550101")
    lenient = make_plan(wanting(), reader, Thresholds(allow_emptying=True))
    assert lenient.valves == () and not lenient.refused


def saved_plan_file(
    tmp_path: Path,
    plan: Plan,
    url: str = URL,
    desired: Desired | None = None,
    thresholds: Thresholds | None = None,
) -> Path:
    path = tmp_path / "reviewed.plan.json"
    text = render_plan_file(
        desired if desired is not None else wanting(),
        plan,
        thresholds=thresholds or Thresholds(),
        api_base_url=url,
        key=KEY,
    )
    path.write_text(text)
    return path


def saved_for(
    tmp_path: Path, desired: Desired, reader: FakeAccount, url: str = URL
) -> tuple[Plan, SavedPlan]:
    """The plan made from `desired` against `reader`, saved and read back (signature checked)."""
    plan = plan_from_config(desired, reader)
    path = saved_plan_file(tmp_path, plan, url, desired)
    return plan, read_plan_file(str(path), KEY)


def from_saved(saved: SavedPlan, reader: FakeAccount, said: list[str] | None = None) -> Plan:
    return plan_from_saved(saved, reader, ([] if said is None else said).append)


def test_plan_from_saved_refuses_another_target_before_reading(tmp_path: Path) -> None:
    reader = account("+14155550100", free=("+14155550101",))
    _, saved = saved_for(
        tmp_path, wanting("+14155550100", "+14155550101"), reader, "https://other.example.com"
    )
    reader.reads.clear()
    with pytest.raises(Refused) as refused:
        from_saved(saved, reader)
    assert str(refused.value) == (
        f"{saved.path}: the plan was made for https://other.example.com, not for {URL}: "
        "nothing was written. Run plan again."
    )
    assert reader.reads == []


def test_the_target_is_compared_without_credentials_or_a_trailing_slash(tmp_path: Path) -> None:
    reader = account("+14155550100", free=("+14155550101",))
    plan, saved = saved_for(tmp_path, wanting("+14155550100", "+14155550101"), reader)
    reader.base_url = "https://user:secret@api.bland.ai/"
    assert from_saved(saved, reader).changes == plan.changes


def test_plan_from_saved_gives_the_saved_changes_then_none_once_applied(tmp_path: Path) -> None:
    reader = account("+14155550100", free=("+14155550101",))
    plan, saved = saved_for(tmp_path, wanting("+14155550100", "+14155550101"), reader)
    said: list[str] = []
    assert from_saved(saved, reader, said).changes == plan.changes
    applied = account("+14155550100", "+14155550101")
    assert from_saved(saved, applied, said).is_empty
    assert said == [f"{saved.path} has already been applied: the account is as it leaves it."]


def unlike(shown: Plan, fresh: Plan) -> str:
    return differences(plan_document(shown), plan_document(fresh))


def test_the_same_changes_are_no_difference() -> None:
    assert unlike(Plan(changes=(ATTACH, DETACH)), Plan(changes=(ATTACH, DETACH))) == ""
    # What the plan does not show (the reads it took) is no difference.
    assert unlike(Plan(changes=(ATTACH,), reads=2), Plan(changes=(ATTACH,), reads=5)) == ""


def test_differences_name_what_went_and_what_came() -> None:
    assert unlike(Plan(changes=(ATTACH, DETACH)), Plan(changes=(ATTACH, MOVE))) == (
        "no longer detach +14155550103 ('Support'); "
        "now also move +14155550102 ('Support') from 'Legacy IVR'"
    )


def test_differences_count_what_they_do_not_name() -> None:
    many = tuple(
        Change(Action.ATTACH, SUPPORT, "Support", f"+1415555{n:04d}")
        for n in range(MAX_FINDINGS_SHOWN + 3)
    )
    assert unlike(Plan(changes=()), Plan(changes=many)).endswith("; and 3 more")


def test_a_change_that_finds_another_value_before_it_is_named_so() -> None:
    """The settings +101 has changed while the plan waited: the refusal must say what to, not
    name the same change twice ("no longer X; now also X")."""
    before = Change(Action.SETTINGS, SUPPORT, "Support", "+14155550101", before=None, after=PW1)
    other_before = replace(before, before=PW2)
    gone, came = unlike(Plan(changes=(before,)), Plan(changes=(other_before,))).split("; ")
    assert gone.startswith("no longer settings +14155550101") and came.startswith("now also")
    assert gone[len("no longer ") :] != came[len("now also ") :]
    assert "pw_2" in came


def test_differences_compare_warnings_and_cleared_settings_too() -> None:
    valve = unlike(Plan(changes=(ATTACH,)), Plan(changes=(ATTACH,), valves=("a valve",)))
    assert valve == "now also the safety valve warning a valve"
    guarded = unlike(Plan(changes=(ATTACH,), refusals=("guarded",)), Plan(changes=(ATTACH,)))
    assert guarded == "no longer the protected-number refusal guarded"
    dropped = Plan(changes=(MOVE,), settings_dropped={"+14155550102": PW1})
    assert "clearing its settings" in unlike(Plan(changes=(MOVE,)), dropped)


N = "+14155550100"


def listed_twice() -> FakeAccount:
    """N shows on Support and on the IVR: the IVR's page was read after N moved there."""
    support = LivePersona(SUPPORT, "Support", frozenset({N}))
    ivr = LivePersona(IVR, "Legacy IVR", frozenset({N, "+14155550130"}))
    live = Live({SUPPORT: support, IVR: ivr}, frozenset({N, "+14155550130"}), pages_read=2)
    return FakeAccount(live, by_id={SUPPORT: LivePersona(SUPPORT, "Support", frozenset())})


def test_a_number_listed_on_two_personas_is_planned_from_their_reads_by_id() -> None:
    reader = listed_twice()

    plan = plan_from_config(wanting(N), reader)

    # Not "held twice, detach it from the IVR": it is on the IVR alone, so Support takes it.
    assert plan.changes == (Change(Action.MOVE, SUPPORT, "Support", N, IVR, "Legacy IVR"),)
    assert sorted(reader.read_by_id) == [IVR, SUPPORT]
    assert plan.owners[N] == (IVR,)
    assert [(c.phone_number, c.seen_on, c.held_by) for c in plan.confirmed] == [
        (
            N,
            (PersonaRef(IVR, "Legacy IVR"), PersonaRef(SUPPORT, "Support")),
            (PersonaRef(IVR, "Legacy IVR"),),
        )
    ]


def test_a_saved_plan_is_checked_against_confirmed_owners(tmp_path: Path) -> None:
    reader = listed_twice()
    plan, saved = saved_for(tmp_path, wanting(N), reader)
    reader.read_by_id.clear()

    # The same skewed listing again: confirmed by id, it is the account the plan was made for.
    assert from_saved(saved, reader).changes == plan.changes
    assert sorted(reader.read_by_id) == [IVR, SUPPORT]


def test_only_disagreements_about_numbers_the_plan_concerns_are_carried() -> None:
    reader = account(N, free=("+14155550101", "+14155550140"))
    reader.live = replace(
        reader.live,
        inbound_owners={"+14155550101": IVR, "+14155550140": IVR},
    )

    plan = plan_from_config(wanting(N, "+14155550101"), reader)

    assert [found.phone_number for found in plan.disagreements] == ["+14155550101"]
    assert plan.changes == (Change(Action.MOVE, SUPPORT, "Support", "+14155550101", IVR, ""),)


def moved_onto_a_page_already_read() -> FakeAccount:
    """N shows on no persona: it moved onto the IVR's page after that page was read."""
    support = LivePersona(SUPPORT, "Support", frozenset())
    ivr = LivePersona(IVR, "Legacy IVR", frozenset({"+14155550130"}))
    live = Live({SUPPORT: support, IVR: ivr}, frozenset({N, "+14155550130"}), pages_read=2)
    ivr_now = LivePersona(IVR, "Legacy IVR", frozenset({N, "+14155550130"}))
    return FakeAccount(live, relist={SUPPORT: support, IVR: ivr_now})


def protecting(desired: Desired, *numbers: str) -> Desired:
    return replace(desired, protected=numbers)


def test_a_protected_number_the_list_shows_on_no_persona_is_listed_again() -> None:
    reader = moved_onto_a_page_already_read()
    reader.route_names_persona = False

    plan = plan_from_config(protecting(wanting(N), N), reader)

    assert reader.relists == [2]  # the pages the first listing spanned, asked for at once
    assert plan.changes == (Change(Action.MOVE, SUPPORT, "Support", N, IVR, "Legacy IVR"),)
    assert [(c.phone_number, c.seen_on, c.held_by) for c in plan.confirmed] == [
        (N, (), (PersonaRef(IVR, "Legacy IVR"),))
    ]


def test_a_declared_number_the_list_shows_on_no_persona_is_listed_again() -> None:
    """Protected or not: a number the config declares is never taken as free on one listing."""
    reader = moved_onto_a_page_already_read()
    reader.route_names_persona = False

    plan = plan_from_config(wanting(N), reader)

    assert reader.relists == [2]
    assert plan.changes == (Change(Action.MOVE, SUPPORT, "Support", N, IVR, "Legacy IVR"),)


def test_a_number_free_on_a_second_listing_too_is_read_by_number() -> None:
    reader = account(free=(N,))
    reader.route_names_persona = False

    plan = plan_from_config(wanting(N), reader)

    assert reader.routes == [N] and reader.relists == [1]
    assert plan.changes == (Change(Action.ATTACH, SUPPORT, "Support", N),)


def test_a_number_whose_own_record_names_its_persona_costs_no_second_listing() -> None:
    reader = moved_onto_a_page_already_read()

    plan = plan_from_config(wanting(N), reader)

    assert reader.routes == [N] and reader.relists == []
    assert plan.changes == (Change(Action.MOVE, SUPPORT, "Support", N, IVR, "Legacy IVR"),)


def test_a_protected_number_on_its_persona_costs_no_second_listing() -> None:
    reader = account(N)
    plan_from_config(protecting(wanting(N), N), reader)
    assert reader.relists == []


def test_a_saved_attach_of_a_protected_number_found_held_on_a_second_listing_is_stale(
    tmp_path: Path,
) -> None:
    free = account(free=(N, "+14155550130"))
    plan, saved = saved_for(tmp_path, protecting(wanting(N), N), free)
    assert plan.changes == (Change(Action.ATTACH, SUPPORT, "Support", N),)

    with pytest.raises(Refused) as stale:
        from_saved(saved, moved_onto_a_page_already_read())
    assert str(stale.value) == (
        f"{saved.path}: the account changed since the plan was made, nothing was written: "
        "no longer attach +14155550100 ('Support'); "
        "now also move +14155550100 ('Support') from 'Legacy IVR'; "
        "now also the protected-number refusal +14155550100 is protected and the plan moves it "
        "from 'Legacy IVR' to 'Support'. Run plan again."
    )  # its own record names the persona that holds it: no second listing, no owner finding


# -- a saved plan is applied only while a fresh plan shows exactly the same ------------------

SALES = "p-sales"
N101, N102, N103, N105, N130 = (f"+141555501{n:02d}" for n in (1, 2, 3, 5, 30))


def live(*personas: LivePersona, extra: tuple[str, ...] = ()) -> Live:
    numbers = {n for p in personas for n in p.numbers} | set(extra)
    return Live({p.id: p for p in personas}, frozenset(numbers), pages_read=1, reads=2)


def persona(pid: str, name: str, *numbers: str, deleted: bool = False) -> LivePersona:
    return LivePersona(pid, name, frozenset(numbers), deleted)


# Support has 100 and 103, wants 100, 101 (free) and 102 (from the IVR); 103 goes. Sales is
# managed and has nothing, as the config wants.
BEFORE = live(
    persona(SUPPORT, "Support", N, N103),
    persona(IVR, "Legacy IVR", N102, N130),
    persona(SALES, "Sales"),
    extra=(N101, N105),
)
AFTER = live(
    persona(SUPPORT, "Support", N, N101, N102),
    persona(IVR, "Legacy IVR", N130),
    persona(SALES, "Sales"),
    extra=(N103, N105),
)
TWO_ENTRIES = Desired(
    (
        DesiredPersona(SUPPORT, None, (N, N101, N102), SourceMark("c.yaml", 2, 5)),
        DesiredPersona(SALES, None, (), SourceMark("c.yaml", 5, 5)),
    ),
    files=("c.yaml",),
)


def saved_before(tmp_path: Path) -> SavedPlan:
    plan, saved = saved_for(tmp_path, TWO_ENTRIES, FakeAccount(BEFORE))
    assert [change.action for change in plan.changes] == [
        Action.ATTACH,
        Action.MOVE,
        Action.DETACH,
    ]
    return saved


def stale_reason(saved: SavedPlan, now: Live) -> str:
    with pytest.raises(Refused) as refused:
        from_saved(saved, FakeAccount(now))
    text = str(refused.value)
    head = f"{saved.path}: the account changed since the plan was made, nothing was written: "
    assert text.startswith(head) and text.endswith(". Run plan again."), text
    return text[len(head) : -len(". Run plan again.")]


def test_an_unchanged_account_gives_the_saved_plan(tmp_path: Path) -> None:
    saved = saved_before(tmp_path)
    fresh = from_saved(saved, FakeAccount(BEFORE))
    assert fresh.changes == saved.plan.changes
    assert differences(saved.document, plan_document(fresh)) == ""


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (
            live(
                persona(SUPPORT, "Support", N, N103),
                persona(IVR, "Legacy IVR", N101, N102, N130),
                persona(SALES, "Sales"),
                extra=(N105,),
            ),
            "no longer attach +14155550101 ('Support'); "
            "now also move +14155550101 ('Support') from 'Legacy IVR'",
        ),
        (
            live(
                persona(SUPPORT, "Support", N, N103),
                persona(IVR, "Legacy IVR", N130),
                persona(SALES, "Sales"),
                extra=(N101, N102, N105),
            ),
            "no longer move +14155550102 ('Support') from 'Legacy IVR'; "
            "now also attach +14155550102 ('Support')",
        ),
        (
            live(
                persona(SUPPORT, "Support", N, N103),
                persona(IVR, "Legacy IVR", N102, N130),
                persona(SALES, "Sales", N105),
                extra=(N101,),
            ),
            "now also detach +14155550105 ('Sales'); now also the safety valve warning the plan "
            "leaves 'Sales' with none of its 1 number",
        ),
        (
            live(
                persona(SUPPORT, "Support", N, N103),
                persona(IVR, "Legacy IVR", N102, N130),
                persona(SALES, "Sales", deleted=True),
                extra=(N101, N105),
            ),
            f"persona id {SALES} ('Sales') is deleted",
        ),
    ],
    ids=["a free number taken", "a moved number freed", "a number added", "a persona deleted"],
)
def test_each_difference_is_named(tmp_path: Path, now: Live, reason: str) -> None:
    saved = saved_before(tmp_path)
    assert stale_reason(saved, now) == reason


def test_an_applied_plan_plans_as_nothing(tmp_path: Path) -> None:
    saved = saved_before(tmp_path)
    again = from_saved(saved, FakeAccount(AFTER))
    assert again.is_empty
    assert all(managed.live == managed.desired for managed in again.managed)


def test_an_empty_saved_plan_against_a_changed_account_is_refused_not_already_applied(
    tmp_path: Path,
) -> None:
    matching = live(persona(SUPPORT, "Support", N), persona(IVR, "IVR"))
    plan, saved = saved_for(tmp_path, wanting(N), FakeAccount(matching))
    assert plan.is_empty
    changed = live(persona(SUPPORT, "Support"), persona(IVR, "IVR", N))
    assert stale_reason(saved, changed) == (
        "now also move +14155550100 ('Support') from 'IVR'; "
        "now also the safety valve warning the plan leaves 'IVR' with none of its 1 number"
    )
    assert from_saved(saved, FakeAccount(matching)).is_empty


@pytest.mark.parametrize(("count", "more"), [(20, ""), (21, "; and 1 more"), (25, "; and 5 more")])
def test_a_stale_message_shows_20_differences_and_counts_the_rest(
    tmp_path: Path, count: int, more: str
) -> None:
    added = [f"+1415556{n:04d}" for n in range(count)]
    desired = Desired((DesiredPersona(SALES, None, tuple(added), SourceMark("c.yaml", 1, 1)),))
    plan, saved = saved_for(tmp_path, desired, FakeAccount(live(persona(SALES, "Sales", *added))))
    assert plan.is_empty
    freed = live(persona(SALES, "Sales"), extra=tuple(added))
    shown = "; ".join(f"now also attach {n} ('Sales')" for n in added[:MAX_FINDINGS_SHOWN])
    assert stale_reason(saved, freed) == shown + more


def test_a_saved_plan_compares_as_redacted_when_it_was_saved(tmp_path: Path) -> None:
    """A secret in a persona name is redacted in the file: the fresh plan is redacted likewise."""
    REDACTOR.add("sk-core-test-secret")
    secret = live(persona(SUPPORT, "Desk sk-core-test-secret"), extra=(N,))
    plan = plan_from_config(wanting(N), FakeAccount(secret))
    path = tmp_path / "plan.json"
    text = render_plan_file(wanting(N), plan, Thresholds(), URL, KEY, redact=REDACTOR.clean)
    assert "sk-core-test-secret" not in text
    path.write_text(text)
    saved = read_plan_file(str(path), KEY)
    assert from_saved(saved, FakeAccount(secret)).changes == plan.changes


# Settings and labels the config declares: a dashboard change of one makes the saved plan stale.
SETTINGS = Desired(
    (
        DesiredPersona(
            SUPPORT,
            None,
            (N, N101),
            SourceMark("c.yaml", 3, 5),
            {},
            {N: PW2, N101: None},
            {N: "Front"},
        ),
    ),
)


def with_values(settings: dict[str, object], labels: dict[str, object]) -> Live:
    support = LivePersona(
        SUPPORT,
        "Support",
        frozenset({N, N101}),
        settings=settings,
        labels=labels,  # type: ignore[arg-type]
    )
    return live(support)


SETTINGS_BEFORE = with_values({N: PW1, N101: None}, {N: None, N101: None})


def test_a_saved_plan_keeps_its_settings_and_label_changes_whole(tmp_path: Path) -> None:
    plan, saved = saved_for(tmp_path, SETTINGS, FakeAccount(SETTINGS_BEFORE))
    assert (
        saved.plan.changes
        == plan.changes
        == (
            Change(Action.SETTINGS, SUPPORT, "Support", N, before=PW1, after=PW2),
            Change(Action.LABEL, SUPPORT, "Support", N, before=None, after="Front"),
        )
    )
    assert saved.desired.personas[0].settings == {N: PW2, N101: None}
    assert saved.desired.personas[0].labels == {N: "Front"}
    assert from_saved(saved, FakeAccount(SETTINGS_BEFORE)).changes == plan.changes


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (
            with_values({N: PW2, N101: None}, {N: None, N101: None}),
            'no longer settings +14155550100 (\'Support\') from {"pathway_id": "pw_1"} to '
            '{"pathway_id": "pw_2"}',
        ),
        (
            with_values({N: PW1, N101: PW1}, {N: None, N101: None}),
            'now also settings +14155550101 (\'Support\') from {"pathway_id": "pw_1"} to null',
        ),
        (
            with_values({N: PW1, N101: None}, {N: "Desk", N101: None}),
            "no longer label +14155550100 ('Support') from null to \"Front\"; "
            'now also label +14155550100 (\'Support\') from "Desk" to "Front"',
        ),
    ],
    ids=["settings now as declared", "undeclared settings", "another label"],
)
def test_a_dashboard_change_of_a_declared_value_makes_the_plan_stale(
    tmp_path: Path, now: Live, reason: str
) -> None:
    _, saved = saved_for(tmp_path, SETTINGS, FakeAccount(SETTINGS_BEFORE))
    assert stale_reason(saved, now) == reason


def test_an_empty_label_and_none_are_no_difference(tmp_path: Path) -> None:
    _, saved = saved_for(tmp_path, SETTINGS, FakeAccount(SETTINGS_BEFORE))
    now = with_values({N: PW1, N101: None}, {N: "", N101: None})
    assert from_saved(saved, FakeAccount(now)).changes == saved.plan.changes


def test_values_not_shown_are_compared_as_not_shown(tmp_path: Path) -> None:
    blind = live(persona(SUPPORT, "Support", N, N101))
    plan, saved = saved_for(tmp_path, SETTINGS, FakeAccount(blind))
    assert from_saved(saved, FakeAccount(blind)).changes == plan.changes
    with pytest.raises(Refused, match="the account changed since the plan was made"):
        from_saved(saved, FakeAccount(SETTINGS_BEFORE))


def test_a_plan_whose_number_writes_are_done_applies_as_nothing(tmp_path: Path) -> None:
    _, saved = saved_for(tmp_path, SETTINGS, FakeAccount(SETTINGS_BEFORE))
    done = with_values({N: PW2, N101: None}, {N: "Front", N101: None})
    assert from_saved(saved, FakeAccount(done)).is_empty
    half = with_values({N: PW2, N101: None}, {N: None, N101: None})
    assert stale_reason(saved, half) == (
        'no longer settings +14155550100 (\'Support\') from {"pathway_id": "pw_1"} to '
        '{"pathway_id": "pw_2"}'
    )


# -- after the writes, the next plan is the check: converge ---------------------------------


def example_desired(
    *, protected: tuple[str, ...] = (), ivr: tuple[str, ...] | None = None
) -> Desired:
    """Support keeps 100, gains 101 (free) and 102 (from the IVR), loses 103; Sales gains 110."""
    entries = [
        DesiredPersona(fakes.SUPPORT, None, (N, N101, N102), SourceMark("c.yaml", 2, 5)),
        DesiredPersona(fakes.SALES, None, (fakes.N110,), SourceMark("c.yaml", 5, 5)),
    ]
    if ivr is not None:
        entries.append(DesiredPersona(fakes.IVR, None, ivr, SourceMark("c.yaml", 8, 5)))
    return Desired(tuple(entries), files=("c.yaml",), protected=protected)


def sender(account: fakes.FakeAccount) -> Callable[[Plan, ApplyResult], object]:
    """Sends each plan's writes to the fake account (the result keeps the plans sent)."""
    return lambda plan, result: PlanWriter(plan, account, result, 1).apply()


def interrupted(_plan: Plan, result: ApplyResult) -> None:
    result.interrupted = True


def ignored(_note: str) -> None:
    pass


def take_back(account: fakes.FakeAccount, *, always: bool = False) -> None:
    """After a write (the first only, unless `always`), someone moves 100 to the IVR."""
    done: list[bool] = []

    def edit(_action: str, _persona_id: str) -> None:
        if done and not always:
            return
        done.append(True)
        account.numbers[fakes.SUPPORT].discard(N)
        account.settings[fakes.SUPPORT].pop(N, None)
        account.numbers[fakes.IVR].add(N)
        account.settings[fakes.IVR][N] = None

    account.after_write = edit


def run(account: fakes.FakeAccount, desired: Desired, *, force: bool = False) -> ApplyResult:
    first = make_plan(desired, account, Thresholds(), force=force)
    assert not first.refused, first.valves
    account.reads.clear()
    return converge(first, desired, account, Thresholds(), sender(account), ignored)


def test_writes_that_do_it_are_checked_by_one_plan_after_them() -> None:
    account = fakes.example_account()
    result = run(account, example_desired())
    assert result.converged and result.notes == [] and result.mismatches == []
    assert len(result.plans) == 1
    assert account.numbers[fakes.SUPPORT] == {N, N101, N102}
    assert account.numbers[fakes.SALES] == {fakes.N110}
    # One plan after the writes: the persona list (one page) and GET /v1/inbound.
    assert sorted(account.reads) == ["inbound", "list"]
    assert result.verify_reads == 3  # the pages, GET /v1/inbound, GET /v2/agents


def test_a_change_made_during_the_writes_is_put_right_by_one_more_plan() -> None:
    account = fakes.example_account()
    take_back(account)
    result = run(account, example_desired())
    assert result.converged, result.mismatches
    assert result.repair_notes == [
        "the account still differed after the writes (1 change): applying them again"
    ]
    assert [c.describe() for c in result.plans[1].changes] == [
        "move +14155550100 ('Support') from 'Legacy IVR'"
    ]
    assert account.numbers[fakes.SUPPORT] == {N, N101, N102}
    assert result.verify_reads == 6  # two plans after writes, three requests each


def test_a_change_that_keeps_coming_back_is_named_after_one_repair() -> None:
    account = fakes.example_account()
    take_back(account, always=True)
    result = run(account, example_desired())
    assert len(result.plans) == 2  # the plan, and one repair: never a third
    assert result.mismatches == ["still needed: move +14155550100 ('Support') from 'Legacy IVR'"]
    assert not result.converged
    assert result.verify_reads == 6


def test_a_repair_the_safety_checks_refuse_is_not_sent() -> None:
    account = fakes.example_account()
    take_back(account)
    result = run(account, example_desired(protected=(N,)))
    assert len(result.plans) == 1
    assert result.mismatches == [
        "not put right, the safety checks refuse it: +14155550100 is protected and the plan "
        "moves it from 'Legacy IVR' to 'Support'",
        "still needed: move +14155550100 ('Support') from 'Legacy IVR'",
    ]
    assert N in account.numbers[fakes.IVR]
    assert not result.converged


def test_the_repair_is_planned_with_the_force_the_first_plan_was_given() -> None:
    account = fakes.example_account()
    take_back(account)
    # The IVR is managed and must end empty: a valve only --force lets through, for the first
    # plan and for the repair that takes 100 back from it.
    desired = example_desired(ivr=())
    with pytest.raises(AssertionError):
        run(fakes.example_account(), desired)
    result = run(account, desired, force=True)
    assert result.converged, result.mismatches
    assert len(result.plans) == 2 and result.plans[1].forced
    assert account.numbers[fakes.IVR] == set()


def test_an_interrupted_run_is_not_planned_again() -> None:
    account = fakes.example_account()
    first = make_plan(example_desired(), account, Thresholds())
    account.reads.clear()
    result = converge(first, example_desired(), account, Thresholds(), interrupted, ignored)
    assert account.reads == [] and result.verify_reads == 0
    assert result.interrupted and not result.converged


def test_a_failed_read_after_the_writes_is_reported_not_passed() -> None:
    account = fakes.example_account()
    first = make_plan(example_desired(), account, Thresholds())
    account.fail("list", "", ApiError("down", status=503))
    result = converge(first, example_desired(), account, Thresholds(), sender(account), ignored)
    assert result.mismatches == ["cannot read the account back: HTTP 503: down"]
    assert not result.converged


def test_an_authorisation_error_after_the_writes_stops_the_run() -> None:
    account = fakes.example_account()
    first = make_plan(example_desired(), account, Thresholds())
    denied = AuthError("no", status=401)
    account.fail("list", "", denied)
    result = converge(first, example_desired(), account, Thresholds(), sender(account), ignored)
    assert result.stopped_by is denied
    assert result.mismatches == []


def test_a_config_that_no_longer_resolves_after_the_writes_is_reported() -> None:
    account = fakes.example_account()
    account.after_write = lambda _action, _pid: account.deleted.add(fakes.SALES)
    result = run(account, example_desired())
    assert len(result.plans) == 1
    assert result.mismatches == [f"after the writes: persona id {fakes.SALES} ('Sales') is deleted"]


def test_settings_the_api_does_not_show_are_never_taken_as_written() -> None:
    account = fakes.example_account()
    account.shows_extras = False  # the list shows numbers without their settings
    entry = DesiredPersona(
        fakes.SUPPORT, None, (N, N103), SourceMark("c.yaml", 2, 5), {}, {N103: PW1}
    )
    desired = Desired((entry,), files=("c.yaml",))
    result = run(account, desired)
    assert account.settings[fakes.SUPPORT][N103] == PW1  # written, but no read shows it
    assert len(result.plans) == 2
    assert result.mismatches == [
        "still needed: settings +14155550103 ('Support') from (not shown) to "
        '{"pathway_id": "pw_1"}'
    ]
    assert not result.converged


@dataclass
class Hooks:
    """What core.apply asks of the command line, recording what an apply shows, says and hands
    on."""

    lines: list[str] = field(default_factory=list)
    sent_writes: list[Write] = field(default_factory=list)
    ended_writes: list[Write] = field(default_factory=list)

    def show(self, plan: Plan) -> None:
        self.lines.append(f"shown: {[change.describe() for change in plan.changes]}")

    def say(self, line: str) -> None:
        self.lines.append(line)

    def given(self) -> dict[str, Any]:
        """core.apply's keywords for them."""
        stopper = GracefulStop(lambda _signum: None, end_now)
        show, say, writing = self.show, self.say, self.writing
        return {"show": show, "say": say, "writing": writing, "stopper": stopper, "warn": say}

    @contextmanager
    def writing(self, plan: Plan) -> Iterator[OnWrite]:
        self.lines.append("writes begin")

        def on_write(write: Write) -> None:
            sent = write.outcome == "sent"
            (self.sent_writes if sent else self.ended_writes).append(replace(write, outcome="done"))

        yield on_write


def test_apply_shows_the_plan_writes_it_and_converges() -> None:
    account = fakes.example_account()
    hooks = Hooks()

    plan, result = apply(example_desired(), account, {}, **hooks.given(), parallelism=1)

    assert hooks.lines == [
        f"shown: {[change.describe() for change in plan.changes]}",
        "writes begin",
    ]
    assert result.converged and result.plans == [plan]
    assert hooks.sent_writes == hooks.ended_writes == result.writes


def test_apply_asks_then_plans_again_and_writes_nothing_if_the_account_changed() -> None:
    account = fakes.example_account()

    def someone_moves_a_number() -> None:
        account.numbers[fakes.SUPPORT].discard(N)
        account.numbers[fakes.IVR].add(N)

    hooks = Hooks()
    with pytest.raises(Refused) as stale:
        apply(example_desired(), account, {}, **hooks.given(), confirm=someone_moves_a_number)
    assert str(stale.value) == (
        "the account changed while the plan waited for confirmation ("
        "now also move +14155550100 ('Support') from 'Legacy IVR'): "
        "nothing was written. Run apply again to see the new plan."
    )
    assert account.calls == [] and "writes begin" not in hooks.lines


def test_a_saved_plan_is_not_asked_about_and_once_applied_is_said_so(tmp_path: Path) -> None:
    account = fakes.example_account()
    desired = example_desired()
    path = saved_plan_file(tmp_path, make_plan(desired, account, Thresholds()), desired=desired)
    saved = read_plan_file(str(path), KEY)

    def asked() -> None:
        raise AssertionError("a saved plan was reviewed when it was made")

    hooks = Hooks()
    plan, result = apply(saved, account, {}, **hooks.given(), confirm=asked)
    assert plan.changes and result.converged
    again = Hooks()
    plan, result = apply(saved, account, {}, **again.given(), confirm=asked)
    assert plan.is_empty and result.plans == []
    assert again.lines[0] == f"{path} has already been applied: the account is as it leaves it."
