"""The Telegram edge's Redis keys, with their lifetimes and why.

Per-chat keys sit on the conversation's hash tag (`{c:telegram:<chat>}`), so every script
touches one cluster slot; only the bot-wide send pace has a tag of its own.
(Candidates for bot/store/keys.py, which holds every other key.)
"""

from __future__ import annotations

from bot.store import keys

CHANNEL = "telegram"

PACE_ALL = f"{keys.PREFIX}:{{telegram}}:pace"
"""String: when the bot may next send to anyone, epoch ms (Telegram's ~30 messages/s);
expires once that moment has passed."""


def conversation(chat: str) -> str:
    """The conversation key of a Telegram chat: "telegram:<chat id>"."""
    return f"{CHANNEL}:{chat}"


def pace(chat: str) -> str:
    """String: when the bot may next send to this chat, epoch ms (~1 message/s per chat);
    expires once that moment has passed."""
    return f"{keys.conversation(conversation(chat))}:pace"


def callback(chat: str, token: str) -> str:
    """String: a button payload too long for Telegram's 64-byte callback data, under the
    short token its button carries (the conversation's TTL: a button lives as long as the
    conversation it was shown in)."""
    return f"{keys.conversation(conversation(chat))}:cb:{token}"


def sent(chat: str, digest: str) -> str:
    """String: how many messages of a list sent to this chat have gone so far, the list
    named by the digest of its rendered messages, so that a retry of the list (the outbox's,
    or a redelivered update's) sends only the rest. Deleted once the whole list went out (an
    identical list later is sent in full); else it lives SENT_TTL_S."""
    return f"{keys.conversation(conversation(chat))}:sent:{digest}"


SENT_TTL_S = 86_400
"""How long a list sent in part is remembered: longer than the outbox retries a notice."""


def answered(chat: str, message_id: str) -> str:
    """String: the customer's message (or button press) with this id was answered, so the
    update delivered again sends nothing, where a repeat of one whose answer did not go out
    (in full) sends it (keys.SEEN_TTL_S, as long as the engine remembers the message id)."""
    return f"{keys.conversation(conversation(chat))}:answered:{message_id}"
