"""The values a simulator fault may take: their types, and the check applied to every change."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

AttachMode = Literal["steal", "refuse", "refuse_as_invalid", "keep_old"]
ATTACH_MODES: tuple[str, ...] = get_args(AttachMode)


@dataclass(frozen=True)
class ListingMove:
    """A change made between two page reads of GET /v1/personas, as from the dashboard."""

    number: str
    """The number that moves; it leaves whichever persona holds it."""
    to_persona: str
    """The persona it moves to."""
    after_page: int = 1
    """It moves once this page of the listing has been served (then the fault clears)."""

    def to_dict(self) -> dict[str, Any]:
        """The move as GET /_sim/faults shows it and POST /_sim/faults takes it."""
        return {"number": self.number, "to_persona": self.to_persona, "after_page": self.after_page}


def _nonneg_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def positive_int(value: object) -> bool:
    return _nonneg_int(value) and value != 0


def _nonneg_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _status(value: object) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return value == 0 or 100 <= value <= 599


def _status_list(value: object) -> bool:
    return isinstance(value, list) and all(_status(v) for v in value)


def _text(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _listing_move(value: object) -> bool:
    if value is None or isinstance(value, ListingMove):
        return True
    return (
        isinstance(value, dict)
        and set(value) == {"number", "to_persona", "after_page"}
        and _text(value["number"])
        and _text(value["to_persona"])
        and positive_int(value["after_page"])
    )


def _spelling_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(item, str) and item.strip() for pair in value.items() for item in pair
    )


def optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


def flag(value: object) -> bool:
    return isinstance(value, bool)


FAULT_CHECKS: dict[str, Callable[[object], bool]] = {
    "latency": _nonneg_number,
    "hang_timeout": _nonneg_number,
    "trickle_seconds": _nonneg_number,
    "read_statuses": _status_list,
    "write_statuses": _status_list,
    "retry_after": optional(lambda value: isinstance(value, str)),
    "drop_after_write": _nonneg_int,
    "hang": _nonneg_int,
    "hang_writes_after": optional(_nonneg_int),
    "large_body_bytes": _nonneg_int,
    "endless_body_cap": positive_int,
    "attach_mode": lambda value: value in ATTACH_MODES,
    "move_during_listing": _listing_move,
    "html_errors": flag,
    "inbound_numbers_as_strings": flag,
    "legacy_inbound_includes_persona": flag,
    "inbound_shows_routing": flag,
    "twins_listed": flag,
    "twins_readable": flag,
    "endless_body": flag,
    "listing_spellings": _spelling_map,
    "inbound_spellings": _spelling_map,
}


def clean_fault_value(checks: Mapping[str, Callable[[object], bool]], name: str, value: Any) -> Any:
    """Check a new value for the fault ``name`` (ValueError if unacceptable) and copy it."""
    check = checks.get(name)
    if check is None:
        raise ValueError(f"unknown fault {name!r}")
    if not check(value):
        raise ValueError(f"invalid value for fault {name!r}: {value!r}")
    if name in ("latency", "hang_timeout", "trickle_seconds"):
        return float(value)
    if name == "move_during_listing" and isinstance(value, dict):
        return ListingMove(value["number"], value["to_persona"], value["after_page"])
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value


def shown_fault_value(value: Any) -> Any:
    """A fault's value as GET /_sim/faults shows it: JSON, and a copy."""
    if isinstance(value, ListingMove):
        return value.to_dict()
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value
