"""Settings and label writes: one call per number, after the routing writes, and their checks.

A number's persona_settings live on its attachment to a persona (a detach clears them), and
its label on the number itself. Both are written whole, only where the plan says they differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.apply.result import Write
from reconciler.client_protocols import AccountWriter
from reconciler.errors import ApiError
from reconciler.model import UNREAD, SeenSettings, owner_kind
from reconciler.plan import Action, Change, Plan, value_json


def intended_write(change: Change, persona_name: str) -> Write:
    """The write of a settings or label change, as it reads once done."""
    return Write(
        change.persona_id,
        persona_name,
        change.action.value,
        (change.phone_number,),
        value=value_json(change.after),
    )


def send_number_write(client: AccountWriter, change: Change, spelled: str) -> None:
    """Make the call of a settings or label change, the number `spelled` as the account
    spells it; raises what the client raises."""
    if change.action is Action.SETTINGS:
        assert not isinstance(change.after, str)
        client.update_settings(change.persona_id, spelled, change.after)
    else:
        assert isinstance(change.after, str)
        # The label is read back from the persona holding the number: an agent's is hidden.
        holder = change.persona_id if owner_kind(change.persona_id) == "persona" else None
        client.update_label(spelled, change.after, persona_id=holder)


def not_yet_attached(plan: Plan, failed_attaches: Iterable[str]) -> frozenset[tuple[str, str]]:
    """(persona id, number) of the numbers an attach that did not succeed was to bring.

    Their settings cannot be written: the API takes settings only for a number on the persona.
    """
    failed = set(failed_attaches)
    return frozenset(
        (pid, number)
        for pid, numbers in plan.gains().items()
        if pid in failed
        for number in numbers
    )


def settings_before_detach(
    client: AccountWriter, persona_id: str, numbers: Iterable[str]
) -> dict[str, SeenSettings]:
    """The settings the numbers have on a persona, read just before they are detached from it.

    A detach clears them; a number put back there afterwards gets them written again. A read
    that fails leaves them unknown (the detach that follows meets an authorisation error too).
    """
    if owner_kind(persona_id) != "persona":
        return dict.fromkeys(numbers, None)  # an agent's numbers carry no persona settings
    try:
        persona = client.get_persona(persona_id)
    except ApiError:
        return dict.fromkeys(numbers, UNREAD)
    return {number: persona.settings_of(number) for number in numbers}


def restore_changes(
    persona_id: str, persona_name: str, settings: Mapping[str, SeenSettings]
) -> tuple[list[Change], list[str]]:
    """The writes that give numbers put back on a persona the settings they had there.

    Also the numbers whose settings were not known (not shown, or the read failed).
    """
    writes = [
        Change(Action.SETTINGS, persona_id, persona_name, number, before=None, after=seen)
        for number, seen in sorted(settings.items())
        if seen is not UNREAD and seen is not None
    ]
    unknown = sorted(number for number, seen in settings.items() if seen is UNREAD)
    return writes, unknown
