"""Every Redis key Shouwen uses, in one place, with its lifetime and why.

Keys of one conversation share the hash tag `{c:<id>}`, so each Lua script touches one
cluster slot and the same code runs on Redis Cluster.
"""

from __future__ import annotations

PREFIX = "sw"

# Pub/sub channel announcing "<conversation> <last seq>" whenever a transcript grows, so
# long polls and sockets in every server process wake up. Not a key: nothing is stored.
EVENTS_CHANNEL = f"{PREFIX}:events"

# A turn holds its conversation this long at most; a crashed process frees it by expiry.
LOCK_TTL_MS = 10_000
# Channels redeliver a webhook within minutes to hours; a day of message ids is plenty.
SEEN_TTL_S = 86_400
# The transcript keeps this many recent entries (Redis trims approximately, cheaply).
LOG_MAXLEN = 500
# Idle conversation state, transcript and seen ids expire after the conversation TTL
# (settings.conversation_ttl_days, 30 by default): a customer coming back within a month
# finds their conversation; cases and customers are kept elsewhere, for longer.


def conversation(conversation_id: str) -> str:
    """Hash: `s` the state as JSON, `q` the last transcript seq."""
    return f"{PREFIX}:{{c:{conversation_id}}}"


def conversation_lock(conversation_id: str) -> str:
    """String: the token of the turn holding the conversation (LOCK_TTL_MS)."""
    return f"{PREFIX}:{{c:{conversation_id}}}:lock"


def conversation_seen(conversation_id: str) -> str:
    """Hash: inbound message id -> "first last" seqs of what it produced (SEEN_TTL_S)."""
    return f"{PREFIX}:{{c:{conversation_id}}}:seen"


def conversation_log(conversation_id: str) -> str:
    """Stream with ids `<seq>-0`: the transcript and event feed (LOG_MAXLEN, conversation TTL)."""
    return f"{PREFIX}:{{c:{conversation_id}}}:log"


def first_message(fingerprint: str) -> str:
    """String: the conversation a client's first message started (SEEN_TTL_S), so that a
    retried first message, sent before the client knew its conversation, joins it again.
    `fingerprint` hashes the client's message id with the message itself."""
    return f"{PREFIX}:{{m:{fingerprint}}}"


def conversation_keys(conversation_id: str) -> list[str]:
    """The keys the claim and save scripts take, in their KEYS order."""
    return [
        conversation(conversation_id),
        conversation_lock(conversation_id),
        conversation_seen(conversation_id),
        conversation_log(conversation_id),
    ]
