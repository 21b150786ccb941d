"""The desk's WebSocket: desk events for this agent, and the live transcript of the
conversations the desk watches.

Server to desk: `{"type": <event kind>, ...data}` for every desk event that reaches the
agent (from any server process, over Redis pub/sub), and `{"type": "entry", "conversation",
"entry"}` for each new transcript line of a watched conversation. Desk to server:
`{"type": "watch", "conversation", "after"}`, `{"type": "unwatch", "conversation"}` and
`{"type": "ping"}` (also the presence heartbeat). A reconnecting desk watches again with
the last seq it showed, so it loses and repeats nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot.errors import ShouwenError
from bot.services.agents import Agent
from bot.services.desk_bus import DeskEvent
from bot.store.conversations import READ_PAGE
from bot.store.events import EventHub, Watch
from connectors.desk.api import DeskParts, may_see
from connectors.desk.auth import DESK_SESSION
from connectors.errors import ApiError
from connectors.webchat.contract import decode_json

log = logging.getLogger(__name__)
HEARTBEAT_S = 25.0
MAX_MESSAGE_BYTES = 4_096
MAX_WATCHED = 20


class DeskSocket:
    """`GET /desk/ws` (behind the desk's session check)."""

    def __init__(self, parts: DeskParts, hub: EventHub) -> None:
        self.parts = parts
        self.hub = hub
        self._open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/desk/ws", self.handle)]

    async def close_all(self, _app: web.Application) -> None:
        for ws in tuple(self._open):
            with contextlib.suppress(ConnectionError):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        agent: Agent = request[DESK_SESSION].agent
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        self._open.add(ws)
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

        def deliver(event: DeskEvent) -> None:
            if event.reaches(agent.name, agent.role):
                with contextlib.suppress(asyncio.QueueFull):  # a stuck desk re-reads later
                    outbox.put_nowait({"type": event.kind, **event.data})

        watching: dict[str, asyncio.Task[None]] = {}
        sender = asyncio.create_task(self._send(ws, outbox))
        with contextlib.suppress(ShouwenError):
            await self.parts.presence.heartbeat(agent.name)
        try:
            with self.parts.bus.listen(deliver):
                await self._receive(ws, agent, outbox, watching)
        finally:
            for task in (*watching.values(), sender):
                task.cancel()
            await asyncio.gather(*watching.values(), sender, return_exceptions=True)
        return ws

    async def _receive(
        self,
        ws: web.WebSocketResponse,
        agent: Agent,
        outbox: asyncio.Queue[dict[str, Any]],
        watching: dict[str, asyncio.Task[None]],
    ) -> None:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = decode_json(message.data)
            except ApiError as error:  # deep nesting too: it must not end the socket
                await outbox.put({"type": "error", "code": error.code})
                continue
            if not isinstance(data, dict):
                data = {}
            kind, conversation = data.get("type"), data.get("conversation")
            if kind == "ping":
                with contextlib.suppress(ShouwenError):
                    await self.parts.presence.heartbeat(agent.name)
                await outbox.put({"type": "pong"})
            elif kind == "watch" and isinstance(conversation, str):
                after = data.get("after")
                after = after if isinstance(after, int) and after >= 0 else 0
                if not await self._may_watch(agent, conversation) or len(watching) >= MAX_WATCHED:
                    await outbox.put(
                        {"type": "error", "code": "forbidden", "conversation": conversation}
                    )
                    continue
                if conversation in watching:
                    watching.pop(conversation).cancel()
                watching[conversation] = asyncio.create_task(
                    self._follow(conversation, after, outbox)
                )
            elif kind == "unwatch" and isinstance(conversation, str):
                task = watching.pop(conversation, None)
                if task is not None:
                    task.cancel()
            else:
                await outbox.put({"type": "error", "code": "unknown_message"})

    async def _may_watch(self, agent: Agent, conversation: str) -> bool:
        record = await self.parts.handoff.handoffs.get(conversation)
        if record is None:
            return False
        case = await self.parts.cases.get(record.case) if record.case else None
        return may_see(agent, record, case)

    async def _follow(
        self, conversation: str, after: int, outbox: asyncio.Queue[dict[str, Any]]
    ) -> None:
        """Push every transcript entry of `conversation` past `after`, as it lands."""
        cursor = after
        with self.hub.watch(conversation) as watch:
            while True:
                cursor = await self._catch_up(conversation, cursor, outbox)
                await _wait(watch)

    async def _catch_up(
        self, conversation: str, cursor: int, outbox: asyncio.Queue[dict[str, Any]]
    ) -> int:
        while True:
            try:
                entries = await self.parts.store.read(conversation, cursor)
            except ShouwenError:
                return cursor  # the store is away: the next wake-up tries again
            for entry in entries:
                await outbox.put(
                    {"type": "entry", "conversation": conversation, "entry": entry.as_dict()}
                )
                cursor = entry.seq
            if len(entries) < READ_PAGE:
                return cursor

    @staticmethod
    async def _send(ws: web.WebSocketResponse, outbox: asyncio.Queue[dict[str, Any]]) -> None:
        with contextlib.suppress(ConnectionError):
            while not ws.closed:
                await ws.send_str(json.dumps(await outbox.get(), ensure_ascii=False))


async def _wait(watch: Watch) -> None:
    # Woken by news, or every 30 s in case a pub/sub message was lost.
    await watch.wait(30.0)
