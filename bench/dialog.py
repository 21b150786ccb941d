"""The dialogs both sides answer, and what a side must offer to be measured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class Step:
    """One customer turn: a text, or pressing a button of the previous reply (the one with
    `payload`, else the first)."""

    text: str = ""
    press: bool = False
    payload: str | None = None


@dataclass(frozen=True, slots=True)
class Dialog:
    """A conversation every simulated customer has, its words varied by chat where needed."""

    name: str
    script: Callable[[int, int], Sequence[Step]]  # (chat, side's salt) -> the steps
    length: int
    changing: frozenset[int] = frozenset()  # turn indexes that book or open a case
    # Run (untimed) before every round: e.g. give the windows their capacity back.
    reset: Callable[[aioredis.Redis], Awaitable[None]] | None = None
    has_baseline: bool = True  # an aiogram bot answers it too


FAQ_STEPS = (
    Step("你好"),
    Step("国际漫游怎么开通"),
    Step(press=True),
    Step("宽带太慢了怎么办"),
    Step("谢谢"),
)
DIALOG = FAQ_STEPS  # the FAQ dialog, as the first version of this benchmark named it
FAQ = Dialog("faq", lambda chat, salt: FAQ_STEPS, len(FAQ_STEPS))


def customer_phone(chat: int, salt: int) -> str:
    """A fake mobile of its own for each chat and side, so no rule ties two customers.

    The side's salt is in the middle: masked ("138****1234") both sides' phones read alike.
    """
    return f"138{salt}{chat % 10**7:07d}"


class WrongAnswer(Exception):
    """A side answered a turn with nothing, too much, or not at all."""


class Side(Protocol):
    """A bot answering a dialog: Shouwen's engine or an aiogram baseline."""

    name: str
    salt: int  # makes the customers of each side distinct (phones)

    async def turn(self, chat: int, step: Step) -> list[str]:
        """Answer one step of `chat`; the texts sent back. Raises WrongAnswer."""

    def idle_keys(self, chat: int) -> dict[str, str]:
        """What a conversation keeps in Redis between turns, by kind."""

    def turn_keys(self, chat: int) -> list[str]:
        """Keys that live only during a turn: none may be left once the turns are over."""
