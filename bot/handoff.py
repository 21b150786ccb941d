"""The handoff used until the agent desk is running: point the customer to the hotline.

The desk (its own issue) replaces this with queues, agents and first-contact ownership;
the engine only knows the `Handoff` protocol.
"""

from __future__ import annotations

from bot.dialog import Turn
from bot.i18n import _


class HotlineHandoff:
    """Tells the customer how to reach a person by phone; keeps the bot in charge."""

    async def request(self, turn: Turn, reason: str) -> None:
        metrics = turn.services.metrics
        if metrics is not None:
            metrics.handoffs.labels(reason).inc()
        turn.state.leave_flow()
        turn.understood()
        turn.say(
            _(
                "Our agents are on the hotline {hotline}, every day 8:00–22:00. "
                "Chatting with an agent here is not available yet; "
                "I am glad to keep helping in the meantime.",
                hotline=turn.services.settings.hotline,
            ),
            buttons=[(_("Common questions"), "consult:topics"), (_("Main menu"), "cmd:menu")],
        )

    async def relay(self, turn: Turn) -> None:
        # Nobody can hold a conversation without the desk: give it back to the bot.
        turn.state.mode = "bot"
        await self.request(turn, "relay")
