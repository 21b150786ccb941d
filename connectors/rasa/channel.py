"""The "rasa" outbox channel: what Shouwen says to a Rasa user outside Rasa's own turns.

Agents' messages, the queue's news and case notices are appended to the Rasa conversation
as bot utterances through Rasa's HTTP API, `POST /conversations/<id>/tracker/events` with
`execute_side_effects=true&output_channel=latest`: Rasa forwards each `bot` event to the
channel the user last wrote on. That works while the conversation is paused for the
handoff, where an intent triggered with `trigger_intent` would not (a paused tracker runs
no actions). When the handoff is over the same call resumes the Rasa conversation.

Rasa is started with `--enable-api --auth-token <SHOUWEN_RASA_TOKEN> -i 127.0.0.1` (the
token is sent as `?token=`, both ways). A sender id that cannot be part of a conversation
key ("John Smith") is keyed "rasa:b-<base64url>" and decoded back for Rasa's API.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.messages import Button, Reply
from bot.services.handoff import Handoffs
from bot.services.numbers import APPOINTMENT
from bot.services.outbox import Unreachable
from bot.settings import Settings
from bot.state import ConversationState
from bot.store.conversations import ConversationStore
from connectors.rasa.call import CHANNEL, sender_of

# A delivery that takes longer failed (the outbox retries it later).
REQUEST_TIMEOUT_S = 10.0
# Shouwen's buttons that mean something to the sample assistant, as its intents.
_INTENTS = {
    "book:start": "book_appointment",
    "fault:start": "report_fault",
    "cmd:human": "human_agent",
}


class RasaUnavailable(Exception):
    """Rasa's HTTP API refused or failed a delivery; the outbox tries again later."""


class RasaChannel:
    """Delivers replies to Rasa conversations ("rasa:<chat>") through Rasa's API."""

    pushes = True  # it does not read Shouwen's transcript: agents' lines are sent to it

    def __init__(self, settings: Settings, store: ConversationStore, handoffs: Handoffs) -> None:
        self._url = settings.rasa_url
        self._token = settings.rasa_token
        self._store = store
        self._handoffs = handoffs
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, chat: str, replies: Sequence[Reply], locale: str) -> None:
        if self._url is None:
            raise Unreachable("SHOUWEN_RASA_URL is not set")
        mode = await self._mode(chat)
        handed_off = mode != "bot"
        events: list[dict[str, Any]] = [_bot(reply, keep_buttons=handed_off) for reply in replies]
        if not handed_off and await self._handoff_ended(chat):
            events.append({"event": "resume"})
        if events:  # an empty relay is a resume owed (see RasaEndpoint._resume)
            await self._post(chat, events)

    async def resume(self, chat: str) -> None:
        """The handoff is over: the assistant answers the user again."""
        if self._url is not None:
            await self._post(chat, [{"event": "resume"}])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _mode(self, chat: str) -> str:
        raw, _seq = await self._store.load(f"{CHANNEL}:{chat}")
        return ConversationState.from_json(raw).mode if raw else "bot"

    async def _handoff_ended(self, chat: str) -> bool:
        record = await self._handoffs.get(f"{CHANNEL}:{chat}")
        return record is not None and record.state == "ended"

    async def _post(self, chat: str, events: list[dict[str, Any]]) -> None:
        sender = quote(sender_of(chat), safe="")  # the id Rasa knows, not Shouwen's key
        url = f"{self._url}/conversations/{sender}/tracker/events"
        params = {"output_channel": "latest", "execute_side_effects": "true"}
        if self._token:
            params["token"] = self._token
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        try:
            async with self._session.post(
                url, json=events, params=params, timeout=timeout
            ) as response:
                if response.status >= 400:
                    raise RasaUnavailable(f"Rasa answered {response.status}")
        except aiohttp.ClientError as error:
            raise RasaUnavailable(f"Rasa unreachable: {type(error).__name__}") from error


def _bot(reply: Reply, *, keep_buttons: bool) -> dict[str, Any]:
    """A reply as Rasa's `bot` event. During a handoff the buttons stay Shouwen's (the user's
    answers go to /rasa/messages); otherwise those the assistant knows become its intents."""
    buttons = [
        {"title": button.title, "payload": payload}
        for button in reply.buttons
        if (payload := button.payload if keep_buttons else _as_intent(button)) is not None
    ]
    return {"event": "bot", "text": reply.text, "data": {"buttons": buttons}}


def _as_intent(button: Button) -> str | None:
    """A Shouwen button as a Rasa intent payload ("/intent{entities}"), if it has one."""
    kind, _sep, rest = button.payload.partition(":")
    if kind == "rate":  # rate:<number>:<stars>
        subject, _sep, stars = rest.rpartition(":")
        return "/rate_service" + json.dumps({_number_slot(subject): subject, "rating": stars})
    if kind == "progress" and rest.startswith("show:"):
        number = rest.removeprefix("show:")
        return "/query_progress" + json.dumps({_number_slot(number): number})
    intent = _INTENTS.get(button.payload)
    return f"/{intent}" if intent is not None else None


def _number_slot(number: str) -> str:
    return "appointment_number" if number.startswith(APPOINTMENT) else "case_number"
