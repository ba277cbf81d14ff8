"""The Bland API endpoints the simulator serves: the route table, its handlers and the replies.

Where the docs leave a reply open (the v2 attach answer), the simulator picks one and says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from .account import (
    PERSONA_NOT_FOUND,
    TWIN_TAG,
    USER_ID,
    Account,
    AgentRecord,
    JSONObject,
    NumberRecord,
    PersonaRecord,
    SimulatedError,
    now_iso,
)
from .faults import Faults

MAX_LIMIT, DEFAULT_LIMIT = 100, 20
MAX_AGENT_LIMIT, DEFAULT_AGENT_LIMIT = 500, 100
MAX_LABEL_CHARS = 150
# The fields of a persona object in the API's order; those a persona record lacks (role,
# description, image and versions) are always null here.
_PERSONA_FIELDS = [
    *("id", "name", "role", "description", "tags", "image_url"),
    *("created_at", "updated_at", "deleted_at", "user_id"),
    *(f"current_{env}_version{end}" for end in ("_id", "") for env in ("production", "draft")),
]
# Fields of a GET /v1/inbound number object that the simulator never varies.
_INBOUND_DEFAULTS: JSONObject = json.loads(
    '{"webhook":null,"voice_id":null,"dynamic_data":null,"interruption_threshold":null,'
    '"first_sentence":null,"reduce_latency":true,"transfer_phone_number":null,'
    '"voice_settings":null,"record":false,"max_duration":30}'
)
# The one documented error outside the envelope.
_NUMBER_NOT_FOUND = {"error": "Phone number not found"}


@dataclass
class Reply:
    """One response, decided before anything is written to the socket (JSON unless headers say)."""

    status: int
    payload: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, value: Any, headers: dict[str, str] | None = None) -> Reply:
    payload = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return Reply(status, payload, headers=dict(headers or {}))


def error_reply(status: int, code: str, message: str, details: JSONObject | None = None) -> Reply:
    """The error envelope of a failure (a SimulatedError's arguments)."""
    entry: JSONObject = {"error": code, "message": message}
    if details is not None:
        entry["details"] = details
    return json_reply(status, {"data": None, "errors": [entry]})


def _ok(data: Any) -> Reply:
    return json_reply(200, {"data": data, "errors": None})


def _invalid(message: str, code: str = "INVALID_BODY") -> SimulatedError:
    return SimulatedError(400, code, message)


@dataclass(frozen=True)
class Call:
    """One API request being served, with the path segments its route names (unquoted). Each
    endpoint is a method; it runs with the simulator's lock held and may change the account."""

    account: Account
    faults: Faults
    params: tuple[str, ...]
    query: dict[str, str]
    body: Any

    def _positive_int(self, name: str, default: int) -> int:
        try:
            value = int(self.query.get(name, default))
        except ValueError:
            value = 0
        if value < 1:
            raise _invalid(f"'{name}' must be a positive integer", "INVALID_REQUEST")
        return value

    def numbers(self) -> list[str]:
        """The numbers of an attach or detach body, trimmed, without duplicates."""
        numbers = self.body.get("inbound_numbers") if isinstance(self.body, dict) else None
        if not isinstance(numbers, list) or not numbers:
            raise _invalid("'inbound_numbers' must be a non-empty array of strings")
        if not all(isinstance(value, str) and value.strip() for value in numbers):
            raise _invalid("Each entry of 'inbound_numbers' must be a non-empty string")
        return list(dict.fromkeys(value.strip() for value in numbers))

    # ------------------------------------------------------------- v1 personas

    def _render_persona(self, persona: PersonaRecord) -> JSONObject:
        """The persona object of the list, get, attach and detach answers."""
        shown = {name: getattr(persona, name, None) for name in _PERSONA_FIELDS}
        shown |= {"tags": list(persona.tags), "user_id": USER_ID}
        shown["inbound_numbers"] = [
            {
                "phone_number": phone,
                "label": self.account.numbers[phone].label,
                "persona_id": persona.id,
                "persona_settings": persona.numbers[phone],
            }
            for phone in sorted(persona.numbers)
        ]
        return shown

    def persona(self, active: bool = True) -> PersonaRecord:
        """The persona the path names: a twin only when twins are readable, a deleted one only
        when not ``active`` (GET shows it)."""
        persona = self.account.personas.get(self.params[0])
        if (
            persona is None
            or (persona.agent_id is not None and not self.faults.twins_readable)
            or (active and persona.deleted_at is not None)
        ):
            raise SimulatedError(404, *PERSONA_NOT_FOUND)
        return persona

    def list_personas(self) -> Reply:
        page = self._positive_int("page", 1)
        limit = min(self._positive_int("limit", DEFAULT_LIMIT), MAX_LIMIT)
        account, order = self.account, self.account.order
        if not self.faults.twins_listed and any(a.twin_id for a in account.agents.values()):
            order = [pid for pid in order if account.personas[pid].agent_id is None]
        shown = order[(page - 1) * limit : page * limit]
        return _ok([self._render_persona(account.personas[pid]) for pid in shown])

    def get_persona(self) -> Reply:
        return _ok(self._render_persona(self.persona(active=False)))

    def attach_or_detach(self) -> Reply:
        numbers, persona = self.numbers(), self.persona()
        getattr(self.account, self.params[1])(persona, numbers)  # Account.attach or .detach
        return _ok(self._render_persona(persona))

    def settings(self) -> Reply:
        if not isinstance(self.body, dict) or "persona_settings" not in self.body:
            raise _invalid("'persona_settings' is required")
        settings = self.body["persona_settings"]
        if settings is not None and not isinstance(settings, dict):
            raise _invalid("'persona_settings' must be an object or null")
        phone = self.params[1].strip()
        persona = self.persona()
        if phone not in persona.numbers:
            message = "Inbound number not found or not attached to this persona"
            raise SimulatedError(404, "INBOUND_NOT_FOUND", message)
        persona.numbers[phone] = deepcopy(settings)
        number = self.account.numbers[phone]
        answer = {"id": number.id, "phone_number": phone, "persona_id": persona.id}
        return _ok(answer | {"persona_settings": deepcopy(settings), "updated_at": now_iso()})

    # ------------------------------------------------------------- inbound numbers

    def _inbound_object(self, number: NumberRecord, with_routing: bool) -> JSONObject:
        """A number as GET /v1/inbound and GET /v1/inbound/{number} show it."""
        shown: JSONObject = {"phone_number": number.phone_number, "created_at": number.created_at}
        shown["prompt"] = number.prompt if with_routing else None
        shown |= _INBOUND_DEFAULTS
        if self.faults.legacy_inbound_includes_persona:
            owner = number.owners[0] if number.owners else None
            shown |= {"label": number.label, "persona_id": owner}
        if with_routing:
            shown["pathway_id"] = number.pathway_id
        return shown

    def list_inbound(self) -> Reply:
        account, faults, numbers = self.account, self.faults, self.account.numbers
        # The one answer that covers the whole account: in its plain form cached between changes.
        with_routing = faults.inbound_shows_routing
        plain = not (with_routing or faults.legacy_inbound_includes_persona)
        if plain and account.inbound_body_cache and account.inbound_body_cache[0] == len(numbers):
            return Reply(200, account.inbound_body_cache[1])
        shown = [self._inbound_object(numbers[phone], with_routing) for phone in sorted(numbers)]
        reply = json_reply(200, {"inbound_numbers": shown})
        if plain:
            account.inbound_body_cache = (len(numbers), reply.payload)
        return reply

    def get_inbound_number(self) -> Reply:
        # The docs accept +13334445555, %2B13334445555, 13334445555 and 3334445555 (US assumed).
        raw = self.params[0].strip()
        phone = raw if raw.startswith("+") else f"+1{raw}" if len(raw) == 10 else f"+{raw}"
        number = self.account.numbers.get(phone)
        if number is None:
            return json_reply(404, _NUMBER_NOT_FOUND)
        shown = self._inbound_object(number, with_routing=True)
        extra = dict.fromkeys(["voice", "background_track", "fallback_number"])
        return json_reply(200, shown | extra)

    def update_label(self) -> Reply:
        body = self.body if isinstance(self.body, dict) else {}
        phone, label = body.get("phoneNumber"), body.get("newLabel")
        if not isinstance(phone, str) or not phone.strip() or not isinstance(label, str):
            message = "'phoneNumber' and 'newLabel' (a string) are required"
            raise _invalid(message, "INVALID_REQUEST")
        # Counted as a JavaScript server counts a string's length: in UTF-16 units.
        if len(label.encode("utf-16-le")) // 2 > MAX_LABEL_CHARS:
            raise _invalid(f"Label must be {MAX_LABEL_CHARS} characters or fewer", "LABEL_TOO_LONG")
        number = self.account.numbers.get(phone.strip())
        if number is None:
            return json_reply(404, _NUMBER_NOT_FOUND)
        number.label = label or None
        message = "Label updated successfully"
        return _ok({"message": message, "phone_number": number.phone_number, "label": number.label})

    # ------------------------------------------------------------- v2 agents

    def list_agents(self) -> Reply:
        try:
            limit = int(self.query.get("limit", DEFAULT_AGENT_LIMIT))
        except ValueError:
            raise _invalid("'limit' must be an integer", "BAD_REQUEST") from None
        live = [agent for agent in self.account.agents.values() if agent.deleted_at is None]
        live.sort(key=lambda agent: agent.updated_at, reverse=True)
        shown = live[: min(max(limit, 1), MAX_AGENT_LIMIT)]
        return _ok([_render_agent(agent, False) for agent in shown])

    def _live_agent(self) -> AgentRecord:
        agent = self.account.agents.get(self.params[0])
        if agent is None or agent.deleted_at is not None:
            raise SimulatedError(404, "NOT_FOUND", "Agent not found")
        return agent

    def get_agent(self) -> Reply:
        return _ok(_render_agent(self._live_agent(), True))

    def get_binding(self) -> Reply:
        # An unknown agent is not a 404 here: its twin persona is simply null.
        agent = self.account.agents.get(self.params[0])
        return _ok({"agent_id": self.params[0], "persona_id": agent.twin_id if agent else None})

    def agent_numbers(self) -> Reply:
        """Attach numbers to the agent's twin persona (made at its first attach) from any
        owner, or detach them from it. The docs give no error for an agent without a saved
        version (404 NO_VERSIONS, a code they list, is a guess) nor the success bodies."""
        account, agent = self.account, self._live_agent()
        numbers = self.numbers()
        if self.params[1] == "detach":
            twin = account.personas.get(agent.twin_id or "")
            detached = account.detach(twin, numbers) if twin is not None else 0
            return _ok({"agent_id": agent.id, "detached_count": detached})
        if agent.versions < 1:
            raise SimulatedError(404, "NO_VERSIONS", "Agent has no saved version to attach")
        account.refuse_unknown(numbers)
        if agent.twin_id is None:
            twin_id = str(uuid5(NAMESPACE_URL, f"{TWIN_TAG}{agent.id}"))
            account.personas[twin_id] = PersonaRecord(twin_id, agent.name, now_iso())
            account.order.append(twin_id)
            account.link_twin(agent, account.personas[twin_id])
        twin = account.personas[str(agent.twin_id)]
        if twin.deleted_at is not None:
            raise SimulatedError(404, *PERSONA_NOT_FOUND)
        account.attach(twin, numbers)
        return _ok({"agent_id": agent.id, "persona_id": twin.id, "attached_count": len(numbers)})


def _render_agent(agent: AgentRecord, with_environments: bool) -> JSONObject:
    body: JSONObject = {"id": agent.id, "org_id": USER_ID, "name": agent.name}
    body |= {"created_by": None, "created_at": agent.created_at, "updated_at": agent.updated_at}
    pins = {"dev": None, "staging": agent.staging_version_id}
    pins["production"] = agent.production_version_id
    for env, pin in pins.items() if with_environments else ():
        body[env] = {"id": f"{agent.id}-{env}", "env_type": env, "current_version_id": pin}
    return body


Endpoint = Callable[[Call], Reply]
# (method, path pattern, endpoint); a group is a path segment, handed to the endpoint unquoted.
# The label path has no /v1 prefix.
ROUTES: list[tuple[str, str, Endpoint]] = [
    ("GET", "/v1/personas", Call.list_personas),
    ("GET", "/v1/personas/([^/]+)", Call.get_persona),
    ("POST", "/v1/personas/([^/]+)/inbound/(attach|detach)", Call.attach_or_detach),
    ("PATCH", "/v1/personas/([^/]+)/inbound/([^/]+)/settings", Call.settings),
    ("GET", "/v1/inbound", Call.list_inbound),
    ("GET", "/v1/inbound/([^/]+)", Call.get_inbound_number),
    ("POST", "/inbound/update_label", Call.update_label),
    ("GET", "/v2/agents", Call.list_agents),
    ("GET", "/v2/agents/([^/]+)", Call.get_agent),
    ("GET", "/v2/agents/([^/]+)/inbound", Call.get_binding),
    ("POST", "/v2/agents/([^/]+)/inbound/(attach|detach)", Call.agent_numbers),
]
