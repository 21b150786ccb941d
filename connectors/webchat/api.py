"""Web chat: the demo page, the widget, and the JSON / long-poll / WebSocket API.

Contract (DESIGN.md section 6): `POST /api/chat/messages`, `GET /api/chat/{id}/events`,
`GET /api/chat/ws`, `POST /api/nlu/parse`. Bad input is a 4xx `{"error": {...}}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.engine import Engine, normalise
from bot.i18n import negotiate
from bot.messages import Inbound, TurnResult
from bot.metrics import Metrics
from bot.settings import Settings
from bot.state import ConversationState
from bot.store.conversations import ConversationStore
from bot.store.events import EventHub
from connectors.errors import ApiError
from connectors.webchat.chrome import widget_script
from connectors.webchat.contract import (
    CHANNEL,
    decode_json,
    first_message_fingerprint,
    new_conversation_id,
    parse_message,
    query_int,
    valid_conversation_id,
)
from connectors.webchat.socket import ChatSocket

STATIC = Path(__file__).resolve().parent / "static"
MAX_WAIT_S = 30


def result_body(result: TurnResult) -> dict[str, Any]:
    return {
        "conversation": result.conversation,
        "mode": result.mode,
        "locale": result.locale,
        "echo": result.echo.as_dict() if result.echo else None,
        "replies": [entry.as_dict() for entry in result.replies],
    }


class WebChat:
    """The web chat edge."""

    def __init__(
        self,
        engine: Engine,
        store: ConversationStore,
        hub: EventHub,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.engine = engine
        self.store = store
        self.hub = hub
        self.settings = settings
        self.metrics = metrics
        self.socket = ChatSocket(self)
        source = (STATIC / "widget.js").read_text(encoding="utf-8")
        self._widget_js = widget_script(source, engine.services.catalogs)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.page),
            web.get("/widget.js", self.script),
            web.get("/widget.css", self.asset),
            web.post("/api/chat/messages", self.post_message),
            web.get("/api/chat/ws", self.socket.handle),
            web.get("/api/chat/{conversation}/events", self.events),
            web.post("/api/nlu/parse", self.nlu_parse),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def script(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self._widget_js,
            content_type="application/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    async def asset(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / request.path.lstrip("/"))

    def inbound(self, request: web.Request, conversation: str, message: dict[str, Any]) -> Inbound:
        return Inbound(
            channel=CHANNEL,
            chat=conversation,
            text=message.get("text") or "",
            payload=message.get("payload") or None,
            locale_hint=message.get("locale") or request.headers.get("Accept-Language"),
            message_id=message.get("id"),
        )

    async def post_message(self, request: web.Request) -> web.Response:
        message = parse_message(await _json(request), self.settings.max_text_chars)
        conversation = message.get("conversation")
        if conversation is not None and not valid_conversation_id(conversation):
            raise ApiError(404, "unknown_conversation", "No such conversation.")
        create = conversation is None
        if conversation is None:
            conversation = new_conversation_id()
            fingerprint = first_message_fingerprint(message)
            if fingerprint is not None:
                # A retried first message must not start a second conversation.
                conversation = await self.store.first_message(fingerprint, conversation)
        inbound = self.inbound(request, conversation, message)
        result = await self.engine.handle(inbound, create=create)
        return web.json_response(result_body(result), dumps=_dumps)

    async def events(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conversation"]
        after = query_int(request.query.get("after"), "after", 0, 0, 2**53)
        wait = query_int(request.query.get("wait"), "wait", 0, 0, MAX_WAIT_S)
        key = f"{CHANNEL}:{conversation}"
        state, stored_last = await self.known_state(conversation)
        self.metrics.event_waiters.inc()
        try:
            with self.hub.watch(key) as watch:
                entries = await self.store.read(key, after)
                if not entries and wait and await watch.wait(wait):
                    entries = await self.store.read(key, after)
                    # The wait can be long: what changed may be the mode (an agent took over).
                    state, stored_last = await self.known_state(conversation)
        finally:
            self.metrics.event_waiters.dec()
        # A client ahead of the server (its Redis was restored from older data) learns the
        # real last seq, so it does not wait for numbers that will never come.
        last = entries[-1].seq if entries else min(after, stored_last)
        body = {
            "conversation": conversation,
            "mode": state.mode,
            "events": [entry.as_dict() for entry in entries],
            "last": last,
        }
        return web.json_response(body, dumps=_dumps)

    async def known_state(self, conversation: str) -> tuple[ConversationState, int]:
        """The stored state of a web conversation and its last seq; 404 when there is none."""
        if not valid_conversation_id(conversation):
            raise ApiError(404, "unknown_conversation", "No such conversation.")
        raw, last = await self.store.load(f"{CHANNEL}:{conversation}")
        if raw is None:
            raise ApiError(404, "unknown_conversation", "No such conversation.")
        return ConversationState.from_json(raw), last

    async def nlu_parse(self, request: web.Request) -> web.Response:
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ApiError(422, "invalid_field", "“text” must be a string.")
        limit = self.settings.max_text_chars
        if len(body["text"]) > limit:
            raise ApiError(422, "text_too_long", f"“text” is longer than {limit} characters.")
        text = normalise(body["text"], limit)
        locale = body.get("locale")
        nlu = self.engine.services.nlu
        language = negotiate([locale if isinstance(locale, str) else None], "")
        language = language or nlu.detect_language(text) or self.settings.default_locale
        return web.json_response(nlu.parse(text, language).as_rasa(), dumps=_dumps)


async def _json(request: web.Request) -> object:
    return decode_json(await request.read())


def _dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
