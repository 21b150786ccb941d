"""Shouwen's side of the benchmark: turns through its engine on a real Redis."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator

from bench.dialog import Step, WrongAnswer
from bot.dialog import Services
from bot.engine import Engine
from bot.messages import Button, Inbound
from bot.settings import Settings
from bot.store import keys
from bot.store.client import connect


class ShouwenSide:
    """Turns through `Engine.handle`, as the web chat connector makes them."""

    name = "Shouwen"
    salt = 0

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._buttons: dict[int, tuple[Button, ...]] = {}
        self._message_ids = itertools.count(1)

    async def turn(self, chat: int, step: Step) -> list[str]:
        text, payload = step.text, None
        if step.press:
            button = self._button(chat, step.payload)
            text, payload = button.title, button.payload
        inbound = Inbound(
            "web",
            f"bench-{chat}",
            text=text,
            payload=payload,
            message_id=f"m{next(self._message_ids)}",
        )
        result = await self._engine.handle(inbound)
        if not result.replies or result.duplicate:
            raise WrongAnswer(f"no reply to {text!r}")
        self._buttons[chat] = next((r.buttons for r in result.replies if r.buttons), ())
        return [reply.text for reply in result.replies]

    def idle_keys(self, chat: int) -> dict[str, str]:
        conversation = f"web:bench-{chat}"
        return {
            "state": keys.conversation(conversation),
            "transcript": keys.conversation_log(conversation),
            "seen ids": keys.conversation_seen(conversation),
        }

    def turn_keys(self, chat: int) -> list[str]:
        return [keys.conversation_lock(f"web:bench-{chat}")]

    def _button(self, chat: int, payload: str | None) -> Button:
        """The previous reply's button with `payload` (None: its first button)."""
        buttons = self._buttons.get(chat, ())
        for button in buttons:
            if payload is None or button.payload == payload:
                return button
        raise WrongAnswer(f"the previous reply had no button {payload or ''} to press")


@contextlib.asynccontextmanager
async def shouwen_side(services: Services, url: str) -> AsyncIterator[ShouwenSide]:
    """Shouwen's runtime on `url`, sharing the already loaded `services`."""
    from bot.app import build_runtime

    runtime = build_runtime(Settings(), services=services, redis=connect(url))
    try:
        yield ShouwenSide(runtime.engine)
    finally:
        await runtime.redis.close()
