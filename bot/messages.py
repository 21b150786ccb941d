"""The one channel-neutral message model: what a connector hands in, what a turn gives back.

Connectors turn channel input into an `Inbound` and render each `Reply` natively
(web chat quick replies and cards, Telegram inline keyboards, SMS numbered menus).
Texts here are final strings in the customer's language; translation happens in the turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a customer on some channel."""

    channel: str  # "web", "telegram", "sms", ...
    chat: str  # the conversation's id within the channel
    text: str = ""
    payload: str | None = None  # a button's payload, when a button was pressed
    locale_hint: str | None = None  # Accept-Language, Telegram language_code, a chosen locale
    message_id: str | None = None  # the channel's id for this message, for de-duplication
    # A phone number the channel itself vouches for: the SMS sender, a Telegram contact the
    # sender shared as their own. The conversation then belongs to that phone's customer.
    phone: str | None = None
    # The channel can prove the sender's phone by sharing a contact (Telegram): the verify
    # flow offers that (a `verify:contact` button) beside typing the number.
    shares_contact: bool = False


@dataclass(frozen=True, slots=True)
class Button:
    """A quick reply: what the customer sees, and what comes back when pressed."""

    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class CardField:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Card:
    """Structured data shown beside a reply: a case, an appointment, an answer's source."""

    kind: str  # "case", "appointment", "info"
    title: str
    number: str | None = None
    status: str | None = None
    due: str | None = None  # already formatted in the customer's locale and time zone
    fields: tuple[CardField, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "title": self.title}
        for name in ("number", "status", "due"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        data["fields"] = [{"label": f.label, "value": f.value} for f in self.fields]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Card:
        return cls(
            kind=str(data["kind"]),
            title=str(data["title"]),
            number=data.get("number"),
            status=data.get("status"),
            due=data.get("due"),
            fields=tuple(
                CardField(str(f["label"]), str(f["value"])) for f in data.get("fields", ())
            ),
        )


@dataclass(frozen=True, slots=True)
class Reply:
    """What the assistant says: text, optional buttons and an optional card."""

    text: str
    buttons: tuple[Button, ...] = ()
    card: Card | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
        }
        if self.card is not None:
            data["card"] = self.card.as_dict()
        return data


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a conversation's transcript, numbered by `seq` within the conversation.

    The transcript is also the customer's event feed: the web chat resumes after a
    reconnect by asking for entries after the last `seq` it showed.
    """

    seq: int
    role: str  # "customer", "bot", "agent", "system"
    text: str
    ts: float
    buttons: tuple[Button, ...] = ()
    card: Card | None = None
    client_id: str | None = None  # the client's message id, echoed on customer entries
    author: str | None = None  # who wrote an agent entry, as customers see them

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seq": self.seq,
            "role": self.role,
            "text": self.text,
            "ts": self.ts,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
        }
        if self.card is not None:
            data["card"] = self.card.as_dict()
        if self.client_id is not None:
            data["client_id"] = self.client_id
        if self.author is not None:
            data["author"] = self.author
        return data


@dataclass(slots=True)
class TurnResult:
    """What `Engine.handle` returns to a connector."""

    conversation: str
    mode: str
    locale: str
    replies: list[Entry] = field(default_factory=list)
    echo: Entry | None = None  # the customer's own message as logged
    duplicate: bool = False  # the message id was seen before: nothing new happened
