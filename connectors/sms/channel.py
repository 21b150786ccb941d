"""The outbox's SMS channel: notices, and what agents say, sent to the customer's phone."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.messages import Reply
from bot.services.customers import Customers
from bot.services.outbox import Unreachable
from bot.services.vault import mask_phone
from connectors.sms.memory import SmsMemory
from connectors.sms.providers import SmsProvider
from connectors.sms.render import SmsRenderer

log = logging.getLogger(__name__)


class SmsChannel:
    """Delivers to `sms:<customer id>`: the customer's phone is opened from their record."""

    # SMS does not read the transcript: what agents say outside a turn is sent here too.
    pushes = True
    # Each move of the queue would cost an SMS: a queued customer asks for their place by
    # texting, and hears of the agent joining and of the end as any message.
    takes_news = False

    def __init__(
        self,
        customers: Customers,
        provider: SmsProvider,
        renderer: SmsRenderer,
        memory: SmsMemory,
    ) -> None:
        self._customers = customers
        self._provider = provider
        self._renderer = renderer
        self._memory = memory

    async def deliver(self, chat: str, replies: Sequence[Reply], locale: str) -> None:
        customer = await self._customers.get(chat)
        if customer is None:
            raise Unreachable("no customer, so no phone, for this conversation")
        rendered = self._renderer.render(replies, locale)
        if not rendered.text:
            return
        # Remembered before sending: a retry after a failed send sends the same menu, and a
        # digit that answers it never meets an older one.
        await self._memory.remember(chat, rendered.menu, rendered.full, locale)
        message_id = await self._provider.submit(customer.phone, rendered.text)
        log.info("sms: sent %s to %s", message_id or "a message", mask_phone(customer.phone))
