"""An SMS in, an answer out: keywords at the edge, then the engine's turn, then rendering.

The conversation is `sms:<customer id>`, the customer id being the keyed hash of the
sender's number, so no key holds the number in clear; the engine links that customer from
`Inbound.phone`. A redelivered provider message id is answered with nothing when the first
delivery's answer was sent, and with that same answer when it never left.
"""

from __future__ import annotations

import logging
import re

from bot.engine import Engine
from bot.errors import StoreUnavailable
from bot.i18n import _
from bot.messages import Inbound
from bot.services.customers import Customers
from connectors.sms.keywords import Keywords, Reading
from connectors.sms.memory import SmsMemory
from connectors.sms.render import SmsRenderer

log = logging.getLogger(__name__)

CHANNEL = "sms"
# A provider's message id: it becomes part of a Redis key (connectors.sms.memory).
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
NOTHING_MORE = _("Nothing more to show. Reply MENU for the main menu.")
TRY_AGAIN = _("Sorry, something went wrong. Please try again shortly.")


def valid_message_id(value: object) -> bool:
    return isinstance(value, str) and bool(_MESSAGE_ID.match(value))


class SmsInbound:
    """Answers one inbound SMS; the webhooks only authenticate and parse."""

    def __init__(
        self,
        engine: Engine,
        customers: Customers,
        keywords: Keywords,
        renderer: SmsRenderer,
        memory: SmsMemory,
    ) -> None:
        self._engine = engine
        self._customers = customers
        self._keywords = keywords
        self._renderer = renderer
        self._memory = memory

    async def answer(self, sender: str, message_id: str, text: str) -> str | None:
        """The SMS to send back, or None for none (a redelivery, a silent bot while an agent
        has the conversation). InvalidPhone when the sender is not a phone number."""
        chat = self._customers.id_for(sender)
        reading = self._keywords.read(text) or Reading()
        if reading.details:
            return await self._details(chat, message_id, reading.locale)
        payload = reading.payload
        if reading.option is not None:
            # An option of no menu is text, for the flow that asked for a number.
            payload = await self._memory.option(chat, reading.option)
        inbound = Inbound(
            CHANNEL,
            chat,
            text=text,
            payload=payload,
            locale_hint=reading.locale,
            message_id=message_id,
            phone=sender,
        )
        result = await self._engine.handle(inbound)
        if not result.replies:
            return None
        if result.duplicate and not await self._memory.first_answer(chat, message_id):
            return None  # answered the first time: a redelivery gets nothing
        rendered = self._renderer.render(result.replies, result.locale)
        try:
            await self._memory.remember(
                chat, rendered.menu, rendered.full, result.locale, answering=message_id
            )
        except StoreUnavailable:
            # The turn is taken and its answer made: send it. Only its menu is forgotten.
            log.warning("sms: %s answered without remembering its menu", message_id)
        return rendered.text

    def sorry(self) -> str:
        """What to answer when the store failed the turn, in the default language."""
        services = self._engine.services
        return services.catalogs.render(services.settings.default_locale, TRY_AGAIN)

    async def _details(self, chat: str, message_id: str, hint: str | None) -> str | None:
        """The whole last message, unshortened: the customer asked for it."""
        details = await self._memory.details(chat, message_id)
        if not details.first:
            return None
        if details.text is not None:
            return details.text
        locale = details.locale or hint or self._engine.services.settings.default_locale
        return self._engine.services.catalogs.render(locale, NOTHING_MORE)
