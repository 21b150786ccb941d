"""Web chat: the demo page, the widget, and the JSON / long-poll / WebSocket API.

Contract (DESIGN.md section 6): `POST /api/chat/messages`, `GET /api/chat/{id}/events`,
`GET /api/chat/ws`, `POST /api/nlu/parse`. Bad input is a 4xx `{"error": {...}}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.engine import Engine
from bot.i18n import negotiate
from bot.messages import Inbound, TurnResult
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store.conversations import ConversationStore
from bot.store.events import EventHub
from connectors.errors import ApiError
from connectors.webchat.contract import (
    CHANNEL,
    MAX_TEXT_CHARS,
    new_conversation_id,
    parse_message,
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

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.page),
            web.get("/widget.js", self.asset),
            web.get("/widget.css", self.asset),
            web.post("/api/chat/messages", self.post_message),
            web.get("/api/chat/ws", self.socket.handle),
            web.get("/api/chat/{conversation}/events", self.events),
            web.post("/api/nlu/parse", self.nlu_parse),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

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
        message = parse_message(await _json(request))
        conversation = message.get("conversation")
        if conversation is not None and not valid_conversation_id(conversation):
            raise ApiError(404, "unknown_conversation", "No such conversation.")
        create = conversation is None
        inbound = self.inbound(request, conversation or new_conversation_id(), message)
        result = await self.engine.handle(inbound, create=create)
        return web.json_response(result_body(result), dumps=_dumps)

    async def events(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conversation"]
        after = _query_int(request, "after", 0, 0, 2**53)
        wait = _query_int(request, "wait", 0, 0, MAX_WAIT_S)
        key = f"{CHANNEL}:{conversation}"
        state = await self.known_state(conversation)
        self.metrics.event_waiters.inc()
        try:
            with self.hub.watch(key) as watch:
                entries = await self.store.read(key, after)
                if not entries and wait and await watch.wait(wait):
                    entries = await self.store.read(key, after)
        finally:
            self.metrics.event_waiters.dec()
        last = entries[-1].seq if entries else after
        body = {
            "conversation": conversation,
            "mode": state.get("m", "bot"),
            "events": [entry.as_dict() for entry in entries],
            "last": last,
        }
        return web.json_response(body, dumps=_dumps)

    async def known_state(self, conversation: str) -> dict[str, Any]:
        """The stored state of a web conversation, or 404 when there is none."""
        if not valid_conversation_id(conversation):
            raise ApiError(404, "unknown_conversation", "No such conversation.")
        raw, _seq = await self.store.load(f"{CHANNEL}:{conversation}")
        if raw is None:
            raise ApiError(404, "unknown_conversation", "No such conversation.")
        state: dict[str, Any] = json.loads(raw)
        return state

    async def nlu_parse(self, request: web.Request) -> web.Response:
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ApiError(422, "invalid_field", "“text” must be a string.")
        text: str = body["text"]
        if len(text) > MAX_TEXT_CHARS:
            raise ApiError(
                422, "text_too_long", f"“text” is longer than {MAX_TEXT_CHARS} characters."
            )
        locale = body.get("locale")
        nlu = self.engine.services.nlu
        language = negotiate([locale if isinstance(locale, str) else None], "")
        language = language or nlu.detect_language(text) or self.settings.default_locale
        return web.json_response(nlu.parse(text, language).as_rasa(), dumps=_dumps)


async def _json(request: web.Request) -> object:
    raw = await request.read()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "malformed_json", "The body is not valid JSON.") from None


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_query", f"“{name}” must be a whole number {low}-{high}.")
    return int(raw)


def _dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
