"""The dialog both sides answer, and what a side must offer to be measured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Step:
    """One customer turn: a text, or pressing the first button of the previous reply."""

    text: str = ""
    press: bool = False


DIALOG = (
    Step("你好"),
    Step("国际漫游怎么开通"),
    Step(press=True),
    Step("宽带太慢了怎么办"),
    Step("谢谢"),
)


class WrongAnswer(Exception):
    """A side answered a turn with nothing, too much, or not at all."""


class Side(Protocol):
    """A bot answering the dialog: Shouwen's engine or the aiogram baseline."""

    name: str

    async def turn(self, chat: int, step: Step) -> list[str]:
        """Answer one step of `chat`; the texts sent back. Raises WrongAnswer."""

    def idle_keys(self, chat: int) -> dict[str, str]:
        """What a conversation keeps in Redis between turns, by kind."""

    def turn_keys(self, chat: int) -> list[str]:
        """Keys that live only during a turn: none may be left once the turns are over."""
