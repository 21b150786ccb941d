"""A conversation's state: small, JSON in one Redis hash field, defaults left out."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, fields
from typing import Any

from bot.store.encoding import compact_json

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
    "customer": "u",
}
_LONG = {short: name for name, short in _NAMES.items()}
# Flows set aside and not yet taken up again; older ones are forgotten beyond this.
MAX_SUSPENDED = 3


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
    customer: str | None = None  # the verified customer this conversation belongs to

    def to_json(self) -> str:
        data = {}
        for name, default in _defaults():
            value = getattr(self, name)
            if value != default:
                data[_NAMES[name]] = value
        return compact_json(data)

    @classmethod
    def from_json(cls, raw: str) -> ConversationState:
        data = json.loads(raw)
        return cls(**{_LONG[key]: value for key, value in data.items() if key in _LONG})

    def leave_flow(self) -> None:
        """End the running flow and forget what it gathered."""
        self.flow = None
        self.step = None
        self.slots = {}

    def set_aside(self, *, auto: bool) -> None:
        """Suspend the running flow with its step and slots. `auto`: it called another flow
        and takes over again by itself when that one finishes; otherwise it is offered."""
        if self.flow is None:
            return
        frame: dict[str, Any] = {"f": self.flow, "s": self.step, "v": self.slots}
        if auto:
            frame["a"] = 1
        self.suspended = [*self.suspended, frame][-MAX_SUSPENDED:]
        self.leave_flow()

    def take_up(self) -> None:
        """Make the newest suspended flow the running one again (the running one, if any,
        is set aside in its place)."""
        frame = self.suspended.pop()
        self.set_aside(auto=False)
        self.flow, self.step, self.slots = frame["f"], frame.get("s"), frame.get("v") or {}


@functools.cache
def _defaults() -> tuple[tuple[str, Any], ...]:
    """Each field's default, made once (every turn saves a state). Only compared, never changed."""
    default = ConversationState()
    return tuple((f.name, getattr(default, f.name)) for f in fields(ConversationState))
