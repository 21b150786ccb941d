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


def unsent(chat: str) -> str:
    """Set: ids of messages whose answer was not sent (Telegram failed), so the redelivered
    update sends it, where any other repeat sends nothing (keys.SEEN_TTL_S, as long as the
    engine remembers the message id)."""
    return f"{keys.conversation(conversation(chat))}:unsent"
