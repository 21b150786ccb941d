"""The web chat WebSocket: resume from a seq, push transcript entries, take messages.

One task pushes every transcript entry past the client's cursor (its own turns, agent
messages, notifications alike), so a reconnect with `after=<last seq>` loses and repeats
nothing. The receiving loop runs turns; their entries reach the client through the pusher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot.errors import ConversationBusy, ShouwenError, UnknownConversation
from bot.messages import Inbound
from bot.state import ConversationState
from bot.store.conversations import READ_PAGE
from bot.store.events import Watch
from connectors.errors import ApiError
from connectors.webchat.contract import (
    CHANNEL,
    decode_json,
    new_conversation_id,
    parse_message,
    query_int,
)

if TYPE_CHECKING:
    from connectors.webchat.api import WebChat

log = logging.getLogger(__name__)
HEARTBEAT_S = 25.0
IDLE_WAKE_S = 30.0


class ChatSocket:
    def __init__(self, chat: WebChat) -> None:
        self.chat = chat
        self._open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    async def close_all(self, _app: web.Application) -> None:
        """On shutdown: tell every client we are going away, so they reconnect elsewhere
        at once and the server does not wait on their sockets."""
        for ws in tuple(self._open):
            with contextlib.suppress(ConnectionError):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            heartbeat=HEARTBEAT_S, max_msg_size=self.chat.settings.max_body_bytes
        )
        await ws.prepare(request)
        self._open.add(ws)
        opened = await self._hello(ws, request)
        if opened is None:
            await ws.close()
            return ws
        conversation, cursor = opened
        key = f"{CHANNEL}:{conversation}"
        self.chat.metrics.event_waiters.inc()
        try:
            with self.chat.hub.watch(key) as watch:
                pusher = asyncio.create_task(self._push(ws, key, cursor, watch))
                try:
                    await self._receive(ws, request, conversation)
                finally:
                    pusher.cancel()
                    # A client gone mid-send ends the pusher with a connection error: fine.
                    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                        await pusher
        finally:
            self.chat.metrics.event_waiters.dec()
        return ws

    async def _hello(
        self, ws: web.WebSocketResponse, request: web.Request
    ) -> tuple[str, int] | None:
        """Open or resume the conversation and greet the client: its id and the cursor to
        push from; None (an error frame sent) when that cannot be done."""
        query = request.query
        conversation = query.get("conversation") or None
        try:
            after = query_int(query.get("after"), "after", -1, 0, 2**53)
            if conversation is None:
                conversation = new_conversation_id()
                locale = query.get("locale") or request.headers.get("Accept-Language")
                opened = await self.chat.engine.open(
                    Inbound(CHANNEL, conversation, locale_hint=locale)
                )
                mode, language, last = opened.mode, opened.locale, 0
            else:
                state, last = await self.chat.known_state(conversation)
                mode, language = state.mode, state.locale
        except ApiError as error:
            await _send_error(ws, error.code, error.message)
            return None
        except ShouwenError:
            await _send_error(ws, "unavailable", "Please try again shortly.")
            return None
        hello = {"conversation": conversation, "mode": mode, "locale": language, "last": last}
        await ws.send_json({"type": "hello", **hello})
        # Resume after the client's seq, never beyond ours (Redis may have been restored).
        return conversation, last if after < 0 else min(after, last)

    async def _push(self, ws: web.WebSocketResponse, key: str, cursor: int, watch: Watch) -> None:
        mode: str | None = None  # the mode last told (hello told it too: once more is harmless)
        while not ws.closed:
            try:
                entries = await self.chat.store.read(key, cursor)
                raw, _last = await self.chat.store.load(key)
            except ShouwenError:
                await asyncio.sleep(1.0)  # Redis is away: look again soon, not in 30 s
                continue
            for entry in entries:
                await ws.send_json({"type": "event", "event": entry.as_dict()})
                cursor = entry.seq
            # An agent joining or leaving changes the mode outside the client's own turns.
            latest = ConversationState.from_json(raw).mode if raw is not None else mode
            if latest != mode:
                mode = latest
                await ws.send_json({"type": "mode", "mode": mode})
            if len(entries) < READ_PAGE:  # caught up: wait for news
                await watch.wait(IDLE_WAKE_S)

    async def _receive(
        self, ws: web.WebSocketResponse, request: web.Request, conversation: str
    ) -> None:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                if message.type == WSMsgType.BINARY:
                    await _send_error(ws, "invalid_body", "Send JSON text frames.")
                continue
            body: object = None
            try:
                body = decode_json(message.data)
                if not isinstance(body, dict) or body.get("type") != "message":
                    raise ApiError(400, "invalid_body", 'Expected {"type": "message", ...}.')
                parse_message(body, self.chat.settings.max_text_chars)
            except ApiError as error:
                await _send_error(ws, error.code, error.message, _message_id(body))
                continue
            await self._turn(ws, request, conversation, body)

    async def _turn(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        conversation: str,
        body: dict[str, Any],
    ) -> None:
        message_id = _message_id(body)
        await ws.send_json({"type": "typing", "on": True})
        try:
            await self.chat.engine.handle(
                self.chat.inbound(request, conversation, body), create=False
            )
        except UnknownConversation:
            await _send_error(ws, "unknown_conversation", "No such conversation.", message_id)
        except ConversationBusy:
            await _send_error(ws, "busy", "The conversation is busy; please retry.", message_id)
        except ShouwenError:
            await _send_error(ws, "unavailable", "Please try again shortly.", message_id)
        finally:
            # The client may be gone mid-turn; the turn is saved and it will resume.
            with contextlib.suppress(ConnectionError):
                if not ws.closed:
                    await ws.send_json({"type": "typing", "on": False})


def _message_id(body: object) -> str | None:
    value = body.get("id") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


async def _send_error(
    ws: web.WebSocketResponse, code: str, message: str, message_id: str | None = None
) -> None:
    """An error frame; `id` names the client's message it is about, so it can retry."""
    frame: dict[str, Any] = {"type": "error", "error": {"code": code, "message": message}}
    if message_id is not None:
        frame["id"] = message_id
    with contextlib.suppress(ConnectionError):
        if not ws.closed:
            await ws.send_json(frame)
