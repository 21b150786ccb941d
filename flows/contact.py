"""Contact details flows share: the verified customer's phone."""

from __future__ import annotations

from bot.dialog import Turn


async def verified_phone(turn: Turn) -> str | None:
    """The phone of the customer this conversation is verified as, if any."""
    if turn.state.customer is None:
        return None
    customer = await turn.domain.customers.get(turn.state.customer)
    return customer.phone if customer is not None else None
