"""What flows share about who the customer is: their verified phone, what is theirs."""

from __future__ import annotations

import re

from bot.dialog import Turn
from bot.services.customers import belongs_to

# A run that starts with a digit and holds letters: a phone typed with an O for a 0.
_NUMBER_WITH_LETTERS = re.compile(r"[0-9][0-9A-Za-z\s\-]{5,}[0-9A-Za-z]")


def typed_letters_in_number(text: str) -> bool:
    """Whether the number in `text` has letters in it ("138OO138OOO"); words around a
    number ("my number is 1380013800") do not count."""
    run = _NUMBER_WITH_LETTERS.search(text)
    return run is not None and re.search(r"[A-Za-z]", run[0]) is not None


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
