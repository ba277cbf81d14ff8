"""Export writes numbers with settings or a label as mappings, and the rest as plain strings."""

from __future__ import annotations

import pytest

from reconciler.export import export_config
from reconciler.model import Live, LivePersona, routing_settings

N100, N101, N102, N103 = "+14155550100", "+14155550101", "+14155550102", "+14155550103"


def live_of(persona: LivePersona) -> Live:
    return Live({persona.id: persona}, frozenset(persona.numbers), pages_read=1)


SUPPORT = LivePersona(
    "p-1",
    "Support",
    frozenset({N100, N101, N102, N103}),
    settings={
        N100: None,
        N101: routing_settings({"start_node_id": "n: 1", "pathway_id": "pw", "pathway_version": 2}),
        N102: None,
    },
    labels={N100: None, N101: "Front # desk", N102: "", N103: "Seen only here"},
)


def test_numbers_with_settings_or_a_label_are_mappings_and_plan_clean() -> None:
    text = export_config(live_of(SUPPORT))[0]
    assert text.split("version: 1\n")[1] == (
        "personas:\n"
        '  - id: "p-1"\n'
        '    name: "Support"\n'
        "    numbers:\n"
        '      - "+14155550100"\n'
        '      - number: "+14155550101"\n'
        '        label: "Front # desk"\n'
        "        settings:\n"
        '          pathway_id: "pw"\n'
        "          pathway_version: 2\n"
        '          start_node_id: "n: 1"\n'
        '      - "+14155550102"\n'
        '      - number: "+14155550103"\n'
        '        label: "Seen only here"\n'
    )
    # N103's settings were not shown: exported without them, and said so.
    assert export_config(live_of(SUPPORT))[1] == [
        "warning: the API listed 1 of these numbers without their settings or label: they are "
        "exported without them, and the config leaves them as they are"
    ]


@pytest.mark.parametrize(
    "odd",
    [
        {"pathway_id": "pw", "voice": "x"},
        {"pathway_id": "pw", "pathway_version": "2"},
        {"pathway_id": ""},
        {"pathway_version": 2},
        {"pathway_id": "pw", "pathway_version": 2.5},
    ],
    ids=["an extra key", "a string version", "an empty pathway_id", "no pathway_id", "2.5"],
)
def test_settings_a_config_cannot_hold_are_left_out_of_that_number_only(
    odd: dict[str, object],
) -> None:
    persona = LivePersona(
        "p-1",
        "Support",
        frozenset({N100, N101}),
        settings={N100: routing_settings(odd), N101: routing_settings({"pathway_id": "pw"})},
        labels={N100: "Front desk", N101: None},
    )
    live = live_of(persona)
    text = export_config(live)[0]
    assert text.split("numbers:\n")[1] == (
        '      - number: "+14155550100"\n'
        '        label: "Front desk"\n'
        '      - number: "+14155550101"\n'
        "        settings:\n"
        '          pathway_id: "pw"\n'
    )
    assert export_config(live)[1] == [
        f"warning: {N100}: settings a config cannot hold (a key other than pathway_id, "
        "pathway_version and start_node_id, a version that is not a whole number, or no "
        "pathway_id): exported without them, and the config leaves them as they are"
    ]


def test_a_label_too_long_for_a_config_is_left_out_so_the_export_still_loads() -> None:
    # The API may count characters where the config also counts UTF-16 units.
    emoji, long = "\U0001f600" * 76, "x" * 151
    persona = LivePersona(
        "p-1",
        "Support",
        frozenset({N100, N101, N102}),
        settings={N100: None, N101: routing_settings({"pathway_id": "pw"}), N102: None},
        labels={N100: emoji, N101: long, N102: "x" * 150},
    )
    live = live_of(persona)
    text = export_config(live)[0]
    assert emoji not in text and long not in text
    assert '      - "+14155550100"\n' in text
    assert '      - number: "+14155550101"\n        settings:\n' in text
    assert f'        label: "{"x" * 150}"\n' in text
    assert export_config(live)[1] == [
        "warning: 2 of these numbers have a label longer than a config may hold (150 "
        "characters, an emoji counting as two): they are exported without it, and the config "
        "leaves it as it is"
    ]


def test_settings_a_config_cannot_hold_name_five_numbers_then_count_the_rest() -> None:
    numbers = [f"+1415555020{n}" for n in range(8)]
    odd = routing_settings({"pathway_version": 2})
    persona = LivePersona(
        "p-1",
        "Support",
        frozenset(numbers),
        settings=dict.fromkeys(numbers, odd),
        labels=dict.fromkeys(numbers, "Desk"),
    )
    live = live_of(persona)
    [warning] = export_config(live)[1]
    assert warning.startswith(f"warning: {', '.join(numbers[:5])}, and 3 more: settings ")
