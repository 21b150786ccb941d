"""One call of a Shouwen action by Rasa: what its tracker says, and answers in its language.

The tracker comes from the Rasa server, which authenticated itself (`?token=`), but what it
holds was typed by users: every value is read defensively, as text of bounded length.
Identity follows the progress rule (DESIGN.md section 4): a record is shown or changed only
for the conversation that made it ("rasa:<sender_id>") or for a verified customer, which
here is the `verified_phone` slot (set by the assistant itself, never mapped from what a
user types) or the customer the Shouwen conversation was linked to.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo

from bot.i18n import Text, negotiate
from bot.services.customers import InvalidPhone, belongs_to, normalise_phone
from bot.state import ConversationState
from connectors.edges import EdgeParts

CHANNEL = "rasa"
# The tracker slots the actions read; the sample domain (sample/domain.yml) declares them.
CATEGORY, DESCRIPTION, PHONE = "category", "description", "phone"
SERVICE, PLACE, WINDOW, ID_NUMBER = "service", "place", "window", "id_number"
CASE_NUMBER, APPOINTMENT_NUMBER, RATING = "case_number", "appointment_number", "rating"
LANGUAGE, VERIFIED_PHONE = "language", "verified_phone"
# A Rasa sender id as it is part of a conversation key and of desk URLs: no "/" or spaces.
_KEY_SAFE = re.compile(r"^[\w.:@+=\-]{1,128}$")
# Other sender ids ("John Smith", Rasa's Hangouts channel) are carried encoded after this.
_ENCODED = "b-"
# Longer sender ids are refused (Rasa's own channels use short ones).
MAX_SENDER_CHARS = 128
# Longer slot values are cut: nothing we read is longer (a description is capped anyway).
MAX_VALUE_CHARS = 2000

Button = tuple[Text | str, str]  # (title, Rasa payload such as '/inform{"window": "..."}')


class Call:
    """One action call: slots, entities and text of the tracker; replies via the dispatcher."""

    def __init__(self, parts: EdgeParts, dispatcher: Any, tracker: Any) -> None:
        self.parts = parts
        self.domain = parts.domain
        self.catalogs = parts.engine.services.catalogs
        self._dispatcher = dispatcher
        self.tracker = tracker
        self.sender = str(tracker.sender_id)  # as Rasa knows it, for Rasa's API
        self.chat = chat_of(self.sender)  # as Shouwen keys it
        self.conversation = f"{CHANNEL}:{self.chat}"
        latest = tracker.latest_message
        self._latest: dict[str, Any] = latest if isinstance(latest, dict) else {}
        text = self._latest.get("text")
        self.text = text[:MAX_VALUE_CHARS] if isinstance(text, str) else ""
        # What the user typed; a button's "/intent{...}" payload is no words of theirs.
        self.words = "" if self.text.startswith("/") else self.text
        self.language = self._language()
        self._customer: tuple[str | None] | None = None

    # --- Reading the tracker -----------------------------------------------------------

    def slot(self, name: str) -> str | None:
        """A slot's value as text, None when unset (or not a plain value)."""
        slots = self.tracker.slots
        value = slots.get(name) if isinstance(slots, dict) else None
        return _plain(value)

    def entity(self, name: str) -> str | None:
        """The first value of entity `name` in the latest message."""
        found = self._latest.get("entities")
        for item in found if isinstance(found, list) else ():
            if isinstance(item, dict) and item.get("entity") == name:
                value = _plain(item.get("value"))
                if value is not None:
                    return value
        return None

    def now(self) -> float:
        return self.domain.clock()

    def local_now(self) -> datetime:
        return datetime.fromtimestamp(self.now(), ZoneInfo(self.parts.settings.timezone))

    def _language(self) -> str:
        """A language chosen in the assistant (slot), else the channel's (message metadata),
        else the message's own, else the operator's default."""
        metadata = self._latest.get("metadata")
        hint = None
        if isinstance(metadata, dict):
            hint = _plain(metadata.get("language")) or _plain(metadata.get("locale"))
        nlu = self.parts.engine.services.nlu
        detected = nlu.detect_language(self.words) if self.words else None
        default = self.parts.settings.default_locale
        return negotiate([self.slot(LANGUAGE), hint, detected], default)

    # --- Who is asking -----------------------------------------------------------------

    async def customer(self) -> str | None:
        """The verified customer of this conversation, if any (read once per call)."""
        if self._customer is None:
            self._customer = (await self._find_customer(),)
        return self._customer[0]

    async def _find_customer(self) -> str | None:
        phone = self.slot(VERIFIED_PHONE)
        if phone is not None:
            try:
                return self.domain.customers.id_for(phone)
            except InvalidPhone:
                pass
        raw, _seq = await self.parts.store.load(self.conversation)
        return ConversationState.from_json(raw).customer if raw else None

    async def verified_phone(self) -> str | None:
        """The verified customer's phone: the slot's, else the linked customer's own."""
        phone = self.slot(VERIFIED_PHONE)
        if phone is not None:
            try:
                return normalise_phone(phone)
            except InvalidPhone:
                pass
        customer = await self.customer()
        record = await self.domain.customers.get(customer) if customer is not None else None
        return record.phone if record is not None else None

    async def owns(self, conversation: str | None, customer: str | None) -> bool:
        """Whether a case or appointment with these owners is this caller's."""
        return belongs_to(
            conversation, customer, conversation=self.conversation, customer=await self.customer()
        )

    # --- Answering ---------------------------------------------------------------------

    def render(self, text: Text | str) -> str:
        return self.catalogs.render(self.language, text)

    def say(self, text: Text | str, *, buttons: Sequence[Button] = ()) -> None:
        """A response in the caller's language, with Rasa buttons (payloads as given)."""
        self._dispatcher.utter_message(
            text=self.render(text),
            buttons=[
                {"title": self.render(title), "payload": payload} for title, payload in buttons
            ],
        )


def chat_of(sender: str) -> str:
    """The conversation id within the "rasa" channel of a Rasa sender id: the id itself when
    it is key-safe, else (a space, a "/", ...) its reversible encoding "b-<base64url>", so
    that the Rasa API can still be called with the id Rasa knows (`sender_of`)."""
    if _KEY_SAFE.match(sender) and not sender.startswith(_ENCODED):
        return sender
    encoded = base64.urlsafe_b64encode(sender.encode("utf-8")).decode("ascii").rstrip("=")
    return _ENCODED + encoded


def sender_of(chat: str) -> str:
    """The Rasa sender id of a conversation id within the "rasa" channel (`chat_of`'s inverse)."""
    if not chat.startswith(_ENCODED):
        return chat
    encoded = chat.removeprefix(_ENCODED)
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return chat


def valid_sender(value: object) -> TypeGuard[str]:
    """Whether Rasa could have sent this sender id: a non-blank string, not too long."""
    return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_SENDER_CHARS


def _plain(value: object) -> str | None:
    """A scalar as stripped text (None for None, blanks and containers)."""
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()[:MAX_VALUE_CHARS]
    return text or None
