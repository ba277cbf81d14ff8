"""JSON bodies of the simulated API: persona objects and the legacy inbound-number listing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _encode_string
from typing import Any

from .account import USER_ID, Account, NumberRecord, PersonaRecord, copy_json
from .replies import JSONObject

# Fields of a legacy inbound-number object that the simulator never varies.
_LEGACY_INBOUND_DEFAULTS = json.dumps(
    {
        "webhook": None,
        "voice_id": None,
        "dynamic_data": None,
        "interruption_threshold": None,
        "first_sentence": None,
        "reduce_latency": True,
        "transfer_phone_number": None,
        "voice_settings": None,
        "record": False,
        "max_duration": 30,
    },
    separators=(",", ":"),
)[1:-1]


def _inbound_numbers(
    account: Account, persona: PersonaRecord, as_strings: bool, spellings: Mapping[str, str]
) -> Any:
    phones = sorted(persona.numbers)
    if as_strings:
        return [spellings.get(phone, phone) for phone in phones]
    return [
        {
            "phone_number": spellings.get(phone, phone),
            "label": account.numbers[phone].label,
            "persona_id": persona.id,
            "persona_settings": copy_json(persona.numbers[phone]),
        }
        for phone in phones
    ]


def render_persona(
    account: Account,
    persona: PersonaRecord,
    as_strings: bool,
    spellings: Mapping[str, str] | None = None,
) -> JSONObject:
    """The persona object of the list, get, attach and detach responses; ``as_strings`` lists
    its numbers as bare strings instead of objects, ``spellings`` spells some otherwise."""
    return {
        "id": persona.id,
        "name": persona.name,
        "role": persona.role,
        "description": persona.description,
        "tags": list(persona.tags),
        "image_url": None,
        "created_at": persona.created_at,
        "updated_at": persona.updated_at,
        "deleted_at": persona.deleted_at,
        "user_id": USER_ID,
        "current_production_version_id": None,
        "current_draft_version_id": None,
        "current_production_version": None,
        "current_draft_version": None,
        "inbound_numbers": _inbound_numbers(account, persona, as_strings, spellings or {}),
    }


def legacy_inbound_body(
    account: Account,
    include_persona: bool,
    include_routing: bool,
    spellings: Mapping[str, str] | None = None,
) -> bytes:
    """Body of GET /v1/inbound, ``spellings`` spelling some numbers otherwise; the plain form is
    cached on the account between changes."""
    if include_persona or include_routing or spellings:
        return _render_legacy_inbound(account, include_persona, include_routing, spellings or {})
    # The full-account listing is the one O(account) response; cache it between changes.
    cache = account.inbound_body_cache
    if cache is not None and cache[0] == account.numbers_version:
        return cache[1]
    payload = _render_legacy_inbound(account, False, False, {})
    account.inbound_body_cache = (account.numbers_version, payload)
    return payload


def inbound_number(record: NumberRecord, include_persona: bool) -> JSONObject:
    """Body of GET /v1/inbound/{number}: the documented fields, its owner if asked."""
    body = json.loads(_render_number(record, include_persona, True))
    return {**body, "voice": None, "background_track": None, "fallback_number": None}


def _render_legacy_inbound(
    account: Account, include_persona: bool, include_routing: bool, spellings: Mapping[str, str]
) -> bytes:
    # The one response that covers the whole account, so it is assembled from per-number
    # JSON fragments instead of building 100k dicts and encoding them.
    parts = [
        _render_number(
            account.numbers[phone], include_persona, include_routing, spellings.get(phone, phone)
        )
        for phone in sorted(account.numbers)
    ]
    return ('{"inbound_numbers":[' + ",".join(parts) + "]}").encode("utf-8")


def _render_number(
    record: NumberRecord, include_persona: bool, include_routing: bool, shown: str | None = None
) -> str:
    extra = ""
    if include_persona:
        owner = record.owners[0] if record.owners else None
        extra = f',"label":{_string_or_null(record.label)},"persona_id":{_string_or_null(owner)}'
    prompt = record.prompt if include_routing else None
    if include_routing:
        extra += f',"pathway_id":{_string_or_null(record.pathway_id)}'
    return (
        f'{{"phone_number":{_string_or_null(shown or record.phone_number)},'
        f'"created_at":{_string_or_null(record.created_at)},'
        f'"prompt":{_string_or_null(prompt)},{_LEGACY_INBOUND_DEFAULTS}{extra}}}'
    )


def _string_or_null(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)
