"""What flows share about who the customer is: their verified phone, what is theirs."""

from __future__ import annotations

from bot.dialog import Turn
from bot.services.customers import belongs_to


async def verified_phone(turn: Turn) -> str | None:
    """The phone of the customer this conversation is verified as, if any."""
    if turn.state.customer is None:
        return None
    customer = await turn.domain.customers.get(turn.state.customer)
    return customer.phone if customer is not None else None


def owns(turn: Turn, owner_conversation: str | None, owner_customer: str | None) -> bool:
    """Whether the record with these owners is this customer's to see and change."""
    return belongs_to(
        owner_conversation,
        owner_customer,
        conversation=turn.conversation,
        customer=turn.state.customer,
    )
