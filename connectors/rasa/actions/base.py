"""The base of Shouwen's Rasa actions: each gets the running server's parts when built."""

from __future__ import annotations

from typing import Any, ClassVar

from rasa_sdk import Action

from connectors.edges import EdgeParts
from connectors.rasa.call import Call

Event = dict[str, Any]  # a rasa_sdk.events event (they are plain dicts)


class ShouwenAction(Action):  # type: ignore[misc]  # rasa-sdk ships no type information
    """A rasa-sdk action over Shouwen's services; subclasses name it and implement `act`."""

    action_name: ClassVar[str]

    def __init__(self, parts: EdgeParts) -> None:
        self.parts = parts

    def name(self) -> str:
        return self.action_name

    async def run(self, dispatcher: Any, tracker: Any, domain: Any) -> list[Event]:
        return await self.act(Call(self.parts, dispatcher, tracker))

    async def act(self, call: Call) -> list[Event]:
        raise NotImplementedError
