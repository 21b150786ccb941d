"""Greetings, thanks and goodbyes: short, friendly, and back to what the customer needs."""

from __future__ import annotations

from bot.dialog import GREETING, Turn
from bot.i18n import Text, _


class SmalltalkFlow:
    """Answers greet, thanks, goodbye, and a yes or no that answers nothing."""

    name = "chat"
    intents = frozenset({"greet", "thanks", "goodbye", "affirm", "deny"})

    def menu_entry(self) -> tuple[Text, str] | None:
        return None

    async def start(self, turn: Turn) -> None:
        turn.understood()
        intent = turn.parse().intent.name
        menu = [(_("Common questions"), "consult:topics"), (_("Talk to an agent"), "cmd:human")]
        if intent == "greet":
            turn.say(GREETING, buttons=menu)
        elif intent == "thanks":
            turn.say(_("You're welcome! Anything else I can help with?"), buttons=menu)
        elif intent == "goodbye":
            turn.say(_("Thank you for contacting StarLink Telecom. Goodbye!"))
        else:
            turn.say(_("What can I do for you?"), buttons=menu)

    async def step(self, turn: Turn) -> bool:
        turn.state.leave_flow()
        await self.start(turn)
        return True

    async def resume(self, turn: Turn) -> None:
        turn.state.leave_flow()  # nothing to take up: every message stands alone

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        return False  # small talk has no buttons of its own
