"""The web chat WebSocket: resume from a seq, push transcript entries, take messages.

One task pushes every transcript entry past the client's cursor (its own turns, agent
messages, notifications alike), so a reconnect with `after=<last seq>` loses and repeats
nothing. The receiving loop runs turns; their entries reach the client through the pusher.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from bot.errors import ShouwenError, UnknownConversation
from bot.messages import Inbound
from bot.store.events import Watch
from connectors.errors import ApiError
from connectors.webchat.contract import (
    CHANNEL,
    new_conversation_id,
    parse_message,
    valid_conversation_id,
)

if TYPE_CHECKING:
    from connectors.webchat.api import WebChat

log = logging.getLogger(__name__)
HEARTBEAT_S = 25.0
IDLE_WAKE_S = 30.0


class ChatSocket:
    def __init__(self, chat: WebChat) -> None:
        self.chat = chat

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            heartbeat=HEARTBEAT_S, max_msg_size=self.chat.settings.max_body_bytes
        )
        await ws.prepare(request)
        query = request.query
        conversation = query.get("conversation") or None
        after_raw = query.get("after", "")
        locale = query.get("locale") or request.headers.get("Accept-Language")
        if conversation is not None and not valid_conversation_id(conversation):
            await _send_error(ws, "unknown_conversation", "No such conversation.")
            await ws.close()
            return ws
        try:
            if conversation is None:
                conversation = new_conversation_id()
                opened = await self.chat.engine.open(
                    Inbound(CHANNEL, conversation, locale_hint=locale)
                )
                mode, language, last = opened.mode, opened.locale, 0
            else:
                state = await self.chat.known_state(conversation)
                _raw, last = await self.chat.store.load(f"{CHANNEL}:{conversation}")
                mode, language = state.get("m", "bot"), state.get("l", "zh")
        except ApiError as error:
            await _send_error(ws, error.code, error.message)
            await ws.close()
            return ws
        except ShouwenError:
            await _send_error(ws, "unavailable", "Please try again shortly.")
            await ws.close()
            return ws
        cursor = int(after_raw) if after_raw.isdigit() else last
        await ws.send_json(
            {
                "type": "hello",
                "conversation": conversation,
                "mode": mode,
                "locale": language,
                "last": last,
            }
        )
        key = f"{CHANNEL}:{conversation}"
        self.chat.metrics.event_waiters.inc()
        try:
            with self.chat.hub.watch(key) as watch:
                pusher = asyncio.create_task(self._push(ws, key, cursor, watch))
                try:
                    await self._receive(ws, request, conversation)
                finally:
                    pusher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pusher
        finally:
            self.chat.metrics.event_waiters.dec()
        return ws

    async def _push(self, ws: web.WebSocketResponse, key: str, cursor: int, watch: Watch) -> None:
        while not ws.closed:
            try:
                entries = await self.chat.store.read(key, cursor)
            except ShouwenError:
                entries = []
            for entry in entries:
                await ws.send_json({"type": "event", "event": entry.as_dict()})
                cursor = entry.seq
            if not entries or len(entries) < 200:
                await watch.wait(IDLE_WAKE_S)

    async def _receive(
        self, ws: web.WebSocketResponse, request: web.Request, conversation: str
    ) -> None:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                if message.type == WSMsgType.BINARY:
                    await _send_error(ws, "invalid_body", "Send JSON text frames.")
                continue
            try:
                body = json.loads(message.data)
                if not isinstance(body, dict) or body.get("type") != "message":
                    raise ApiError(400, "invalid_body", 'Expected {"type": "message", ...}.')
                parse_message(body)
            except json.JSONDecodeError:
                await _send_error(ws, "malformed_json", "The message is not valid JSON.")
                continue
            except ApiError as error:
                await _send_error(ws, error.code, error.message)
                continue
            await ws.send_json({"type": "typing", "on": True})
            try:
                await self.chat.engine.handle(
                    self.chat.inbound(request, conversation, body), create=False
                )
            except UnknownConversation:
                await _send_error(ws, "unknown_conversation", "No such conversation.")
            except ShouwenError:
                await _send_error(ws, "unavailable", "Please try again shortly.")
            finally:
                if not ws.closed:
                    await ws.send_json({"type": "typing", "on": False})


async def _send_error(ws: web.WebSocketResponse, code: str, message: str) -> None:
    if not ws.closed:
        await ws.send_json({"type": "error", "error": {"code": code, "message": message}})
