"""Phone verification: a one-time code by SMS (or, on Telegram, a shared contact of the
sender's own) proves whose conversation this is.

Other flows call it (`await turn.call("verify", resume_at=...)`) before showing a customer's
own cases; when it finishes, verified or not, the engine resumes the caller, which reads
`turn.state.customer`. The phone waits between turns sealed by the vault, never in clear.
"""

from __future__ import annotations

import math
import re

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.nlu.results import PHONE
from bot.services.customers import InvalidPhone
from bot.services.vault import mask_phone
from bot.services.verification import CODE_DIGITS, LOCKOUT_S
from flows.contact import typed_letters_in_number

_NOT_DIGITS = re.compile(r"\D")
_SPACES = re.compile(r"[\s\-]")
MOBILE_DIGITS = 11


def read_mobile(turn: Turn) -> str | Text:
    """The mainland mobile number in the message, or why the message does not hold one."""
    for entity in turn.parse().entities:
        if entity.entity == PHONE and entity.value.isdigit() and len(entity.value) == MOBILE_DIGITS:
            return entity.value
    text = turn.text
    digits = _NOT_DIGITS.sub("", text)
    if not digits:
        return _("Please type your 11-digit mobile number, e.g. 13800138000.")
    if typed_letters_in_number(text):
        return _(
            "A phone number has digits only, and what you typed has letters in it. "
            "Please type your 11-digit mobile number."
        )
    if len(digits) != MOBILE_DIGITS:
        return _(
            "A mobile number has 11 digits; you typed {count}. Please check it.",
            count=len(digits),
        )
    return _(
        "That is not a valid mainland China mobile number. Please check it "
        "(a mobile number starts with 1, e.g. 13800138000)."
    )


class VerifyFlow:
    """Asks a mobile number, texts a code, checks it: the conversation then has a customer."""

    name = "verify"
    intents: frozenset[str] = frozenset()  # started only by other flows, via turn.call

    def menu_entry(self) -> tuple[Text, str] | None:
        return None

    async def start(self, turn: Turn) -> None:
        turn.understood()
        if turn.state.customer is not None:
            turn.say(_("Your phone number is already verified."))
            turn.finish()
            return
        turn.state.flow, turn.state.step, turn.state.slots = self.name, "phone", {}
        if turn.inbound.shares_contact:
            turn.say(
                _(
                    "To protect your information, please share your phone number with the "
                    "button below, or type it and I will send a one-time code by SMS."
                ),
                buttons=self._contact_button(),
            )
            return
        turn.say(
            _(
                "To protect your information I will send a one-time code by SMS. "
                "What is your mobile number?"
            )
        )

    async def step(self, turn: Turn) -> bool:
        if turn.state.step == "code":
            return await self._take_code(turn)
        return await self._take_phone(turn)

    async def resume(self, turn: Turn) -> None:
        if turn.state.step == "code" and "phone" in turn.state.slots:
            self._ask_code(turn)
        else:
            turn.state.flow, turn.state.step, turn.state.slots = self.name, "phone", {}
            turn.say(
                _("What is your mobile number? I will send you a one-time code."),
                buttons=self._contact_button() if turn.inbound.shares_contact else (),
            )

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        if argument == "contact":
            self._contact(turn)
            return True
        if turn.state.flow != self.name:
            return False  # an old button: the verification it belonged to is over
        if argument == "resend" and "phone" in turn.state.slots:
            await self._send(turn, self._phone(turn))
        elif argument == "phone":
            turn.state.step, turn.state.slots = "phone", {}
            turn.say(_("Which mobile number shall I send the code to?"))
        else:
            return False
        return True

    async def _take_phone(self, turn: Turn) -> bool:
        phone = read_mobile(turn)
        if not isinstance(phone, str):
            turn.say(phone)
            return False  # asked again; the engine decides if it asked for something else
        turn.understood()
        await self._send(turn, phone)
        return True

    async def _send(self, turn: Turn, phone: str) -> None:
        try:
            sent = await turn.domain.verification.send(turn.conversation, phone, turn.state.locale)
        except InvalidPhone:
            turn.state.step = "phone"
            turn.say(_("That is not a valid mobile number. Please check it."))
            return
        if sent.status == "locked":
            self._locked(turn, math.ceil(sent.retry_after / 60) or LOCKOUT_S // 60)
            return
        if sent.status == "failed":
            turn.state.step = "phone"
            turn.say(
                _(
                    "Sorry, I could not send the code to that number just now. Please check "
                    "the number or try again in a few minutes."
                )
            )
            return
        turn.state.step = "code"
        turn.state.slots = {"phone": turn.domain.vault.seal(phone)}
        if sent.status == "too_soon":
            turn.say(
                _(
                    "A code was sent a moment ago. Please wait {seconds} seconds before "
                    "asking for a new one, or type the code you received.",
                    seconds=sent.retry_after,
                ),
                buttons=self._code_buttons(),
            )
            return
        turn.say(
            _(
                "I sent a code to {phone}. Please type the {digits} digits.",
                phone=mask_phone(phone),
                digits=CODE_DIGITS,
            ),
            buttons=self._code_buttons(),
        )

    async def _take_code(self, turn: Turn) -> bool:
        code = _SPACES.sub("", turn.text)
        if not (code.isdecimal() and code.isascii() and len(code) == CODE_DIGITS):
            turn.say(
                _(
                    "The code has {digits} digits. Please type it as it is in the SMS.",
                    digits=CODE_DIGITS,
                ),
                buttons=self._code_buttons(),
            )
            return False  # asked again; the engine decides if it asked for something else
        turn.understood()
        phone = self._phone(turn)
        checked = await turn.domain.verification.check(turn.conversation, phone, code)
        if checked.status == "ok" and checked.customer is not None:
            turn.state.customer = checked.customer
            turn.say(_("Thank you: {phone} is verified.", phone=mask_phone(phone)))
            turn.finish()
        elif checked.status == "wrong":
            turn.say(
                _(
                    "That code is not right. You have {attempts} attempts left.",
                    attempts=checked.attempts_left,
                ),
                buttons=self._code_buttons(),
            )
        elif checked.status == "expired":
            turn.say(
                _("That code has expired. Shall I send a new one?"),
                buttons=self._code_buttons(),
            )
        else:
            self._locked(turn, LOCKOUT_S // 60)
        return True

    def _contact(self, turn: Turn) -> None:
        """A shared contact: the channel has vouched for the phone (the engine then linked
        the customer) only when the contact was the sender's own."""
        turn.understood()
        phone = turn.inbound.phone
        if phone is None or turn.state.customer is None:
            turn.say(
                _(
                    "That contact is not your own, so it cannot verify you. Please share "
                    "your own number with the button below, or type it."
                ),
                buttons=self._contact_button(),
            )
            if turn.state.flow != self.name:  # asked outside verification: start one
                turn.state.flow, turn.state.step, turn.state.slots = self.name, "phone", {}
            return
        turn.say(_("Thank you: {phone} is verified.", phone=mask_phone(phone)))
        if turn.state.flow == self.name:
            turn.finish()

    def _ask_code(self, turn: Turn) -> None:
        turn.say(
            _(
                "Please type the {digits}-digit code I sent to {phone}.",
                digits=CODE_DIGITS,
                phone=mask_phone(self._phone(turn)),
            ),
            buttons=self._code_buttons(),
        )

    def _locked(self, turn: Turn, minutes: int) -> None:
        turn.say(
            _(
                "Too many wrong codes: this number is locked for {minutes} minutes. "
                "Please try again later.",
                minutes=minutes,
            )
        )
        turn.finish()

    def _phone(self, turn: Turn) -> str:
        return turn.domain.vault.open(str(turn.state.slots["phone"]))

    @staticmethod
    def _contact_button() -> list[tuple[Text | str, str]]:
        return [(_("Share my phone number"), "verify:contact")]

    def _code_buttons(self) -> list[tuple[Text | str, str]]:
        return [(_("Send a new code"), "verify:resend"), (_("Use another number"), "verify:phone")]
