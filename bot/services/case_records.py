"""How a case is stored: the values services pass around and their Redis hash encoding.

A case is a flat hash; absent values are absent fields, due times are `due_<name>`
fields, and the contact phone is stored sealed by the vault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.services.complaints import Grade


class CaseNotFound(LookupError):
    """No case has this number (never issued, mistyped past the check digit, or expired)."""


class IllegalTransition(ValueError):
    """The case's current state does not allow the requested move."""


@dataclass(frozen=True, slots=True)
class CaseDraft:
    """What is known when a case is opened."""

    kind: str
    conversation: str | None  # "channel:chat" of the conversation that opened it
    customer: str | None  # customer id (blind index of the phone) if known
    locale: str
    description: str = ""  # the customer's own words, stored whole
    category: str | None = None
    grade: Grade | None = None
    area: str | None = None
    contact: str | None = None  # clear phone; stored sealed
    parent: str | None = None  # callback cases: the case or appointment rated low
    appointment: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """A case as stored, with the contact phone opened."""

    number: str
    kind: str
    state: str
    conversation: str | None
    customer: str | None
    locale: str
    created: float
    updated: float
    due: Mapping[str, float]  # "response", and "repair" for faults
    description: str
    category: str | None
    grade: str | None
    grade_reason: str | None
    area: str | None
    contact: str | None
    parent: str | None
    callback: str | None
    appointment: str | None
    rating: int | None
    comment: str | None
    owner: str | None
    helpers: tuple[str, ...] = ()  # agents who joined after the owner (first contact)


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One entry of a case's archive."""

    ts: float
    actor: str
    from_state: str | None
    to_state: str
    note: str


def encode(
    number: str, draft: CaseDraft, now: float, due: Mapping[str, float], sealed: str | None
) -> dict[str, str]:
    """The hash fields of a new case; `sealed` is the vault's seal of the contact."""
    values: dict[str, object] = {
        "number": number,
        "kind": draft.kind,
        "state": "received",
        "created": now,
        "updated": now,
        "locale": draft.locale,
        "description": draft.description,
        "conversation": draft.conversation,
        "customer": draft.customer,
        "category": draft.category,
        "grade": draft.grade.grade if draft.grade else None,
        "grade_reason": draft.grade.reason if draft.grade else None,
        "area": draft.area,
        "contact": sealed,
        "parent": draft.parent,
        "appointment": draft.appointment,
        **{f"due_{name}": at for name, at in due.items()},
    }
    return {name: str(value) for name, value in values.items() if value is not None}


def decode(fields: Mapping[str, str], open_contact: Callable[[str, str], str | None]) -> Case:
    """A case from its hash fields; `open_contact(number, sealed)` opens the phone."""
    number = fields["number"]
    sealed = fields.get("contact")
    rating = fields.get("rating")
    return Case(
        number=number,
        kind=fields["kind"],
        state=fields["state"],
        conversation=fields.get("conversation"),
        customer=fields.get("customer"),
        locale=fields["locale"],
        created=float(fields["created"]),
        updated=float(fields["updated"]),
        due={name[4:]: float(at) for name, at in fields.items() if name.startswith("due_")},
        description=fields.get("description", ""),
        category=fields.get("category"),
        grade=fields.get("grade"),
        grade_reason=fields.get("grade_reason"),
        area=fields.get("area"),
        contact=open_contact(number, sealed) if sealed is not None else None,
        parent=fields.get("parent"),
        callback=fields.get("callback"),
        appointment=fields.get("appointment"),
        rating=int(rating) if rating is not None else None,
        comment=fields.get("comment"),
        owner=fields.get("owner"),
        helpers=tuple(fields.get("helpers", "").split()),
    )


def decode_event(fields: Mapping[str, str]) -> CaseEvent:
    """An archive event from its stream entry fields."""
    return CaseEvent(
        ts=float(fields["ts"]),
        actor=fields["actor"],
        from_state=fields["from"] or None,
        to_state=fields["to"],
        note=fields["note"],
    )


def flatten(fields: Mapping[str, str]) -> list[str]:
    """Field/value pairs as one list, the way HSET and scripts take them."""
    return [part for pair in fields.items() for part in pair]


def pairs(flat: list[Any]) -> dict[str, str]:
    """A flat HGETALL reply from inside a script as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))
