"""Rasa's action-server protocol at /rasa/webhook and /rasa/actions, run by rasa-sdk's own
executor, plus /rasa/messages for what a Rasa user writes while an agent has them.

    POST /rasa/webhook   {"next_action", "sender_id", "tracker", "domain", "version"}
                         -> {"events": [...], "responses": [...]}; an unknown action 404,
                         a rejected one 400, a missing domain 449, all as rasa-sdk answers
                         them: {"error": "...", "action_name": "..."}.
    GET  /rasa/actions   -> [{"name": "..."}, ...]
    POST /rasa/messages  {"sender_id", "text" | "payload", "message_id"?} while the Rasa
                         conversation is paused for a handoff (Rasa itself ignores a paused
                         conversation's messages) -> {"mode", "messages": [Rasa REST shape]}.

With SHOUWEN_RASA_TOKEN every call needs `?token=<it>` (what endpoints.yml's `token:`
sends); without it only callers on this machine are served, and never a request relayed by
a proxy (one with X-Forwarded-For, Forwarded, X-Real-IP, Via, X-Forwarded-Host or
-Proto: a local reverse proxy would make every internet caller look local). Rasa-sdk is
imported at the first call, not at start: it costs about half a second.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from typing import Any

from aiohttp import web

from bot.errors import ConversationBusy, StoreUnavailable
from bot.messages import Inbound
from bot.services.outbox import RELAY, Notice
from bot.state import ConversationState
from connectors.edges import EdgeParts
from connectors.errors import ApiError
from connectors.rasa.call import CHANNEL, Call, chat_of, valid_sender
from connectors.rasa.channel import RasaChannel, RasaUnavailable
from connectors.rasa.texts import TRY_AGAIN
from connectors.webchat.contract import MAX_PAYLOAD_CHARS, decode_json

log = logging.getLogger(__name__)

_MESSAGE_ID = re.compile(r"^[\w.:\-]{1,64}$")
_ACTION_NAME = re.compile(r"^[\w.\-]{1,128}$")
# Headers a proxy adds: such a request is not from this machine, whatever its address.
_PROXY_HEADERS = (
    "X-Forwarded-For",
    "Forwarded",
    "X-Real-IP",
    "Via",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
)


class RasaEndpoint:
    """The HTTP side of the Rasa actions; the executor is made at the first call."""

    def __init__(self, parts: EdgeParts, channel: RasaChannel) -> None:
        self._parts = parts
        self._channel = channel
        self._executor: Any = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/rasa/webhook", self.webhook),
            web.get("/rasa/actions", self.actions),
            web.post("/rasa/messages", self.messages),
        ]

    def executor(self) -> Any:
        """rasa-sdk's ActionExecutor with every Shouwen action (imports rasa-sdk once)."""
        if self._executor is None:
            from connectors.rasa.actions import build_executor

            self._executor = build_executor(self._parts)
        return self._executor

    async def actions(self, request: web.Request) -> web.Response:
        self._authorise(request)
        names = [item.model_dump() for item in self.executor().list_actions()]
        return web.json_response(names)

    async def webhook(self, request: web.Request) -> web.Response:
        self._authorise(request)
        try:
            body = decode_json(await request.read())
        except ApiError as error:  # Rasa reads `action_name` from any 400
            return _refusal(400, error.message, "")
        try:
            call = _action_call(body)
        except _Invalid as error:
            return _refusal(400, f"Invalid body request: {error.why}", error.action)
        executor = self.executor()
        from rasa_sdk.interfaces import (
            ActionExecutionRejection,
            ActionMissingDomainException,
            ActionNotFoundException,
        )

        name = call["next_action"]
        try:
            result = await executor.run(call)
        except ActionNotFoundException as error:
            return _refusal(404, error.message, name)
        except ActionExecutionRejection as error:
            return _refusal(400, error.message, name)
        except ActionMissingDomainException as error:
            return _refusal(449, error.message, name)
        except (StoreUnavailable, ConversationBusy) as error:
            log.warning("rasa action %s: %s", name, type(error).__name__)
            return self._apology(call)
        except Exception:  # a failing action must not fail the user's conversation in Rasa
            log.exception("rasa action %s failed", name)
            return self._apology(call)
        return web.json_response(result.model_dump())

    async def messages(self, request: web.Request) -> web.Response:
        """A paused Rasa user's message, for the agent (or the queue) in Shouwen."""
        self._authorise(request)
        sender, inbound = _paused_message(decode_json(await request.read()))
        conversation = f"{CHANNEL}:{inbound.chat}"
        raw, _seq = await self._parts.store.load(conversation)
        if raw is None or ConversationState.from_json(raw).mode == "bot":
            raise ApiError(409, "not_handed_off", "This conversation is with the Rasa assistant.")
        result = await self._parts.engine.handle(inbound, create=False)
        if result.mode == "bot":  # the user left the queue: the assistant answers again
            await self._resume(conversation, result.locale)
        messages = [
            {
                "recipient_id": sender,
                "text": entry.text,
                "buttons": [{"title": b.title, "payload": b.payload} for b in entry.buttons],
            }
            for entry in result.replies
        ]
        return web.json_response({"mode": result.mode, "messages": messages})

    async def _resume(self, conversation: str, locale: str) -> None:
        """Resume the Rasa conversation; if Rasa is down, through the outbox, which retries:
        an empty relay, which the "rasa" channel sends as `resume` once the handoff ended."""
        chat = conversation.partition(":")[2]
        try:
            await self._channel.resume(chat)
        except RasaUnavailable as error:
            log.warning("rasa resume deferred to the outbox: %s", error)
            notice = Notice(conversation, RELAY, "", locale, {"entries": "[]"})
            await self._parts.domain.outbox.publish(notice)

    def _authorise(self, request: web.Request) -> None:
        token = self._parts.settings.rasa_token
        if token:
            given = request.query.get("token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise ApiError(401, "unauthorized", "A valid ?token= is required.")
        elif not _from_this_machine(request):
            raise ApiError(
                403, "forbidden", "Set SHOUWEN_RASA_TOKEN to serve Rasa from another host."
            )

    def _apology(self, call: dict[str, Any]) -> web.Response:
        """No events, one polite response: Rasa carries on and the user may try again."""
        from rasa_sdk.interfaces import Tracker

        said = Call(self._parts, None, Tracker.from_dict(call["tracker"]))
        text = said.render(TRY_AGAIN)
        return web.json_response({"events": [], "responses": [{"text": text}]})


def _from_this_machine(request: web.Request) -> bool:
    """A loopback caller, not relayed by a proxy (which would be loopback itself)."""
    if any(header in request.headers for header in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _refusal(status: int, message: str, action: str) -> web.Response:
    """An error as rasa-sdk words it (Rasa reads `action_name` from a 400)."""
    return web.json_response({"error": message, "action_name": action}, status=status)


def _paused_message(body: object) -> tuple[str, Inbound]:
    """The sender id and what /rasa/messages was sent, as the engine's Inbound; else a 400
    saying why."""
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    sender = body.get("sender_id")
    if not valid_sender(sender):
        raise ApiError(400, "invalid_sender", "“sender_id” must be a Rasa sender id.")
    text, payload, message_id = body.get("text"), body.get("payload"), body.get("message_id")
    if not isinstance(text, str) and not isinstance(payload, str):
        raise ApiError(400, "invalid_message", "Send “text” or “payload”.")
    if payload is not None and (not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_CHARS):
        raise ApiError(400, "invalid_payload", "“payload” must be a short string.")
    if message_id is not None and not (
        isinstance(message_id, str) and _MESSAGE_ID.match(message_id)
    ):
        raise ApiError(400, "invalid_message_id", "“message_id” must be a short id.")
    words = text if isinstance(text, str) else ""
    inbound = Inbound(CHANNEL, chat_of(sender), words, payload=payload, message_id=message_id)
    return sender, inbound


def _action_call(body: object) -> dict[str, Any]:
    """The action call if it has the shape Rasa sends; else `_Invalid` saying what is wrong."""
    if not isinstance(body, dict):
        raise _Invalid("the body must be a JSON object", "")
    action, tracker = body.get("next_action"), body.get("tracker")
    if not isinstance(action, str) or not _ACTION_NAME.match(action):
        raise _Invalid("“next_action” must name an action", str(action or "")[:128])

    def _invalid(why: str) -> _Invalid:
        return _Invalid(why, action)

    if not isinstance(tracker, dict):
        raise _invalid("“tracker” must be an object")
    if not valid_sender(tracker.get("sender_id")):
        raise _invalid("“tracker.sender_id” must be a Rasa sender id")
    for field, shape in (("slots", dict), ("events", list), ("active_loop", dict)):
        tracker[field] = tracker.get(field) or shape()  # rasa-sdk reads them without checks
        if not isinstance(tracker[field], shape):
            raise _invalid(f"“tracker.{field}” has the wrong type")
    if tracker.get("latest_message") is not None and not isinstance(
        tracker["latest_message"], dict
    ):
        raise _invalid("“tracker.latest_message” must be an object")
    for event in tracker["events"]:
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise _invalid("every tracker event needs an “event” type")
        if event["event"] == "slot" and not isinstance(event.get("name"), str):
            raise _invalid("a slot event needs a “name”")
        if event["event"] == "action" and not isinstance(
            event.setdefault("name", None), str | None
        ):
            raise _invalid("an action event's “name” must be a string")
    if body.get("domain") is not None and not isinstance(body["domain"], dict):
        raise _invalid("“domain” must be an object")
    return body


class _Invalid(Exception):
    """An action call Rasa could not have sent: answered 400 with the action's name."""

    def __init__(self, why: str, action: str) -> None:
        super().__init__(why)
        self.why = why
        self.action = action
