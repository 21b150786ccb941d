"""Telegram as an outbox channel: notices and what agents say reach the customer's chat."""

from __future__ import annotations

from collections.abc import Sequence

from bot.messages import Reply
from connectors.telegram.render import Said
from connectors.telegram.sender import TelegramSender


class TelegramChannel:
    """Delivers the outbox's replies to a Telegram chat (raises Unreachable when blocked)."""

    # Telegram does not read the transcript: lines said outside a turn are pushed to it.
    pushes = True

    def __init__(self, sender: TelegramSender) -> None:
        self._sender = sender

    async def deliver(self, chat: str, replies: Sequence[Reply], locale: str) -> None:
        await self._sender.send(chat, [Said(reply) for reply in replies])
