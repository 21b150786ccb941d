"""Shouwen's own exceptions; Redis and channel errors are translated into these at the edge.

ShouwenError
├── StoreUnavailable      Redis did not answer; the customer is asked to try again shortly
├── ConversationBusy      another turn of the conversation held it for too long
└── UnknownConversation   a client named a conversation that does not exist (or expired)
"""


class ShouwenError(Exception):
    """Base of every error Shouwen raises on purpose."""


class StoreUnavailable(ShouwenError):
    """The state store (Redis) is unreachable or failed mid-command."""


class ConversationBusy(ShouwenError):
    """A turn could not get the conversation in time because another turn held it."""


class UnknownConversation(ShouwenError):
    """The conversation id is not known: never created, or expired."""
