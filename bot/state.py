"""A conversation's state: small, JSON in one Redis hash field, defaults left out."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, fields
from typing import Any

# Short field names keep an idle conversation a few dozen bytes.
_NAMES = {
    "mode": "m",
    "locale": "l",
    "locale_pinned": "lp",
    "flow": "f",
    "step": "s",
    "slots": "v",
    "misses": "x",
    "notify": "n",
    "suspended": "sf",
    "channel": "ch",
    "created": "c",
}
_LONG = {short: name for name, short in _NAMES.items()}


@dataclass(slots=True)
class ConversationState:
    """Where a conversation stands between turns."""

    mode: str = "bot"  # "bot", "queued" (waiting for an agent), "agent" (an agent holds it)
    locale: str = "zh"
    locale_pinned: bool = False  # the customer chose a language: stop guessing from text
    flow: str | None = None  # the running flow, if any
    step: str | None = None  # where in that flow
    slots: dict[str, Any] = field(default_factory=dict)  # what the flow has gathered
    misses: int = 0  # misunderstood turns in a row
    notify: bool = True  # the customer has not said stop
    suspended: list[dict[str, Any]] = field(default_factory=list)  # flows set aside, newest last
    channel: str = ""
    created: float = 0.0

    def to_json(self) -> str:
        data = {}
        for name, default in _defaults():
            value = getattr(self, name)
            if value != default:
                data[_NAMES[name]] = value
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> ConversationState:
        data = json.loads(raw)
        return cls(**{_LONG[key]: value for key, value in data.items() if key in _LONG})

    def leave_flow(self) -> None:
        """End the running flow and forget what it gathered."""
        self.flow = None
        self.step = None
        self.slots = {}


@functools.cache
def _defaults() -> tuple[tuple[str, Any], ...]:
    """Each field's default, made once (every turn saves a state). Only compared, never changed."""
    default = ConversationState()
    return tuple((f.name, getattr(default, f.name)) for f in fields(ConversationState))
