"""A call back instead of a chat: asked for outside the agents' hours (the handoff offers it).

Takes the verified phone, or asks for one, and opens a callback case whose due time is the
promise the customer is given at once.
"""

from __future__ import annotations

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.services.case_records import CaseDraft
from bot.services.case_texts import moment
from flows.contact import verified_phone
from flows.verify import read_mobile


class CallbackFlow:
    """Opens a callback case with the customer's phone."""

    name = "handoff"  # its buttons are the handoff's ("handoff:callback")
    intents: frozenset[str] = frozenset()

    def menu_entry(self) -> tuple[Text, str] | None:
        return None

    async def start(self, turn: Turn) -> None:
        turn.state.flow = self.name
        phone = await verified_phone(turn)
        if phone is not None:
            await self._open(turn, phone)
            return
        turn.state.step = "phone"
        turn.say(_("Which mobile number should we call? For example 13800138000."))

    async def step(self, turn: Turn) -> bool:
        phone = read_mobile(turn)
        if not isinstance(phone, str):
            turn.say(phone)
            return False
        await self._open(turn, phone)
        return True

    async def resume(self, turn: Turn) -> None:
        turn.say(_("Which mobile number should we call? For example 13800138000."))

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        if argument != "callback":
            return False
        turn.understood()
        await self.start(turn)
        return True

    async def _open(self, turn: Turn, phone: str) -> None:
        case = await turn.domain.cases.open(
            CaseDraft(
                kind="callback",
                conversation=turn.conversation,
                customer=turn.state.customer,  # an unverified phone is not an identity
                locale=turn.state.locale,
                description="call back: asked outside the agents' hours",
                contact=phone,
            )
        )
        turn.finish()
        due = case.due.get("response", case.created)
        turn.say(
            _(
                "Done: case {number}. We will call {phone} by {due}.",
                number=case.number,
                phone=phone,
                due=moment(due),
            ),
            buttons=[(_("Main menu"), "cmd:menu")],
        )
