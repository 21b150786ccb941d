"""Every Redis key Shouwen uses, in one place, with its lifetime and why.

Keys of one conversation share the hash tag `{c:<id>}`, so each Lua script touches one
cluster slot and the same code runs on Redis Cluster.
"""

from __future__ import annotations

PREFIX = "sw"

# Pub/sub channel announcing "<conversation> <last seq>" whenever a transcript grows, so
# long polls and sockets in every server process wake up. Not a key: nothing is stored.
EVENTS_CHANNEL = f"{PREFIX}:events"
# Pub/sub channel of desk events (queue moves, alerts, presence) for every process's desks.
DESK_CHANNEL = f"{PREFIX}:desk"

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


# --- Cases, customers, appointments, verification, outbox, scheduler -----------------
# Cases are kept a year after their last change: complaints are audited, and the repeat
# rule looks back 30 days. Customers live as long as they have cases.
CASE_TTL_S = 366 * 86_400
CUSTOMER_TTL_S = 366 * 86_400
# A day's counter lives two days, so a slow clock at midnight cannot reuse a number.
COUNTER_TTL_S = 2 * 86_400


def case(number: str) -> str:
    """Hash: one case's fields (CASE_TTL_S after its last change)."""
    return f"{PREFIX}:{{k:{number}}}"


def case_events(number: str) -> str:
    """Stream: the case's archive, one event per change (time, actor, from, to, note)."""
    return f"{PREFIX}:{{k:{number}}}:events"


def number_counter(kind: str, day: str) -> str:
    """String: the last sequence issued for numbers of `kind` on `day` (yymmdd; COUNTER_TTL_S)."""
    return f"{PREFIX}:{{n:{kind}{day}}}"


def customer(customer_id: str) -> str:
    """Hash: a customer (id = blind index of the phone; the phone itself sealed)."""
    return f"{PREFIX}:{{u:{customer_id}}}"


def customer_cases(customer_id: str) -> str:
    """Sorted set: the customer's case numbers scored by creation time."""
    return f"{PREFIX}:{{u:{customer_id}}}:cases"


def customer_complaints(customer_id: str) -> str:
    """Sorted set: the customer's complaint numbers by creation time (the 30-day repeat rule)."""
    return f"{PREFIX}:{{u:{customer_id}}}:complaints"


def customer_appointments(customer_id: str) -> str:
    """Hash: the customer's booked appointments, number -> "start end" (overlap check)."""
    return f"{PREFIX}:{{u:{customer_id}}}:appointments"


def customer_appointment_list(customer_id: str) -> str:
    """Sorted set: all the customer's appointment numbers by creation time (their list)."""
    return f"{PREFIX}:{{u:{customer_id}}}:appointment_list"


def customer_conversations(customer_id: str) -> str:
    """Sorted set: conversations ("channel:chat") linked to the customer, by last use."""
    return f"{PREFIX}:{{u:{customer_id}}}:conversations"


def appointment(number: str) -> str:
    """Hash: one appointment (CASE_TTL_S after its last change)."""
    return f"{PREFIX}:{{a:{number}}}"


def window_bookings(place: str, day: str) -> str:
    """Hash: window id -> appointments booked in it, plus one "<window> <number>" field per
    booking (so a retried booking or a repeated release counts once), for one place and day
    (yyyymmdd); expires a few days after that day."""
    return f"{PREFIX}:{{w:{place}:{day}}}"


def verification(phone_id: str) -> str:
    """Hash: the pending one-time code for a phone (hashed), its conversation and attempts
    (expires with the code, 5 minutes)."""
    return f"{PREFIX}:{{v:{phone_id}}}"


def verification_lock(phone_id: str) -> str:
    """String: set when a phone ran out of attempts; it expires after the lock-out (15 min)."""
    return f"{PREFIX}:{{v:{phone_id}}}:locked"


OUTBOX = f"{PREFIX}:{{outbox}}"
"""Stream: notifications waiting to be delivered (consumer group `senders`)."""
OUTBOX_DEAD = f"{PREFIX}:{{outbox}}:dead"
"""Stream: notifications given up after the last attempt, kept for an operator to look at."""
OUTBOX_RETRY = f"{PREFIX}:{{outbox}}:retry"
"""Sorted set: notifications waiting for their next attempt, scored by when."""
SCHEDULE = f"{PREFIX}:{{schedule}}"
"""Sorted set: job id scored by when it is due (reminders; later the SLA clock)."""
SCHEDULE_JOBS = f"{PREFIX}:{{schedule}}:jobs"
"""Hash: job id -> "kind data" of each scheduled job."""


# --- Handoffs --------------------------------------------------------------------------
HANDOFF_QUEUE = f"{PREFIX}:{{queue}}"
"""Sorted set: conversations waiting for an agent, scored by when they (last) joined."""


def handoff(conversation_id: str) -> str:
    """Hash: the conversation's handoff (queued / held / ended, its case, owner and agent)."""
    return f"{PREFIX}:{{h:{conversation_id}}}"


def agent_owned(agent: str) -> str:
    """Sorted set: the open cases an agent owns (first contact), by when they took them."""
    return f"{PREFIX}:{{ow:{agent}}}"


def agent_held(agent: str) -> str:
    """Set: the conversations an agent holds now (their load)."""
    return f"{PREFIX}:{{hd:{agent}}}"


# --- Daily statistics (the supervisor's "today" and charts) ---------------------------
# Charts look back 30 days; ten more spare a day lost to a slow clock or a late reader.
STATS_TTL_S = 40 * 86_400


def stats_day(day: str) -> str:
    """Hash: counter name -> amount for one operator day (yyyymmdd; STATS_TTL_S)."""
    return f"{PREFIX}:{{stats}}:{day}"


# --- Desk: agents, sessions, login failures, presence ---------------------------------
# Agents' accounts live until removed. A desk session ends after 12 hours without a request
# (sliding): a shift with its breaks, yet a forgotten browser does not stay signed in for
# days. Failed logins of one name are counted 15 minutes; the fifth locks it 15 minutes.
DESK_SESSION_IDLE_S = 12 * 3600
LOGIN_LOCK_S = 15 * 60

AGENTS = f"{PREFIX}:agents"
"""Set: the name of every agent (the desk's lists and `shouwen agent` read it)."""
PRESENCE = f"{PREFIX}:presence"
"""Hash: agent name -> "<status> <epoch of the last heartbeat>"; older than 90 s is offline."""


def agent(name: str) -> str:
    """Hash: an agent (name, display, role, team, pw = argon2id hash, created)."""
    return f"{PREFIX}:{{ag:{name}}}"


def agent_login_failures(name: str) -> str:
    """Hash: login attempts of a name in the current window (`n`, `first`, `until` when
    locked); kept LOGIN_LOCK_S after the last attempt. Counted for unknown names too, so
    a lock-out does not tell which names exist."""
    return f"{PREFIX}:{{ag:{name}}}:fails"


def desk_session(token_hash: str) -> str:
    """Hash: a desk session (agent, csrf, created, seen) under the sha256 of its token, so
    a copy of Redis opens no desk; expires DESK_SESSION_IDLE_S after its last use."""
    return f"{PREFIX}:{{ds:{token_hash}}}"


OPEN_CASES = f"{PREFIX}:{{open}}"
"""Sorted set: numbers of cases not yet resolved, by creation (the supervisor's SLA view)."""
AUDIT = f"{PREFIX}:{{audit}}"
"""Stream: who revealed which customer's personal data, when and why."""
