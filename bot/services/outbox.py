"""The outbox: notifications to customers, delivered at least once through a Redis Stream.

Services `publish` a Notice (XADD). Workers of the consumer group `senders` read it, render
it in the customer's language and hand it to the conversation's channel. A failed delivery
waits in a sorted set with exponential backoff, and after `max_attempts` goes to the
dead-letter stream. Entries a crashed worker read but never settled are claimed by another
worker once idle (XAUTOCLAIM). Every settlement is one script on the `{outbox}` slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis

from bot.errors import StoreUnavailable
from bot.messages import Entry, Reply
from bot.state import ConversationState
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.conversations import ConversationStore, NewEntry
from bot.store.guard import guarded, stop_if_cancelled

log = logging.getLogger(__name__)

GROUP = "senders"
# Notices given up on are kept for an operator; old ones are trimmed (approximately).
DEAD_MAXLEN = 10_000
# Read and claim this many entries at a time.
BATCH = 20
# A delivery that takes longer failed: it is retried, then dead-lettered.
DELIVERY_TIMEOUT_S = 30.0
# How often an idle worker looks for notices published by other processes.
IDLE_POLL_S = 0.25
# After failed steps the pause doubles, up to IDLE_POLL_S * 2**6 = 16 s.
MAX_BACKOFF_DOUBLINGS = 6

# KEYS: outbox.  ARGV: notice JSON.  Returns the entry id (first attempt).
PUBLISH = """
local outbox, notice = KEYS[1], ARGV[1]
return redis.call('XADD', outbox, '*', 'n', notice, 'a', '1')
"""

# KEYS: outbox, retry, dead.  ARGV: group, entry id, action ("ack" | "retry" | "dead"),
#       retry due time, notice JSON, attempt, reason.
# Returns 0 when the entry was already settled (another worker claimed and finished it).
SETTLE = """
local outbox, retry, dead = KEYS[1], KEYS[2], KEYS[3]
local group, id, action, due = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local notice, attempt, reason, dead_maxlen = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if redis.call('XACK', outbox, group, id) == 0 then
  return 0
end
redis.call('XDEL', outbox, id)
if action == 'retry' then
  redis.call('ZADD', retry, due, attempt .. ' ' .. id .. ' ' .. notice)
elseif action == 'dead' then
  redis.call('XADD', dead, 'MAXLEN', '~', dead_maxlen, '*',
    'n', notice, 'a', attempt, 'reason', reason, 'id', id)
end
return 1
"""

# KEYS: retry, outbox.  ARGV: now, limit.  Moves notices whose retry is due back into the
# stream; one script, so two workers never re-queue the same notice twice.
REQUEUE = """
local retry, outbox = KEYS[1], KEYS[2]
local now, limit = ARGV[1], ARGV[2]
local due = redis.call('ZRANGEBYSCORE', retry, '-inf', now, 'LIMIT', 0, limit)
for _, member in ipairs(due) do
  local attempt, notice = string.match(member, '^(%d+) %S+ (.*)$')
  redis.call('XADD', outbox, '*', 'n', notice, 'a', attempt)
  redis.call('ZREM', retry, member)
end
return #due
"""


# The notice kind that carries lines already said in a conversation (an agent's message, the
# handoff's news) to a channel that does not read the transcript (Telegram, SMS, Rasa).
RELAY = "relay"
# A verified customer's SMS conversation is "sms:<customer id>": the fallback channel.
SMS = "sms"


class Unreachable(Exception):
    """A channel can never deliver to this chat (the bot was blocked, the number refuses
    SMS, the conversation is gone): the outbox tries the next channel or gives up at once."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell a conversation's customer about, outside any turn.

    With a `customer`, the notice goes to the customer's most recently used conversation on a
    channel this server has, falling back to SMS when that one is unreachable; `to` (the
    conversation the matter started in) is where it goes otherwise."""

    to: str  # conversation key "channel:chat"
    kind: str  # "case_state", "case_resolved", "appointment_booked", "appointment_reminder", ...
    subject: str  # case or appointment number
    locale: str
    params: Mapping[str, str] = field(default_factory=dict)
    customer: str | None = None  # the verified customer it concerns

    def to_json(self) -> str:
        data: dict[str, object] = {"to": self.to, "k": self.kind, "s": self.subject}
        data["l"] = self.locale
        data["p"] = dict(self.params)
        if self.customer is not None:
            data["c"] = self.customer
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Notice:
        data = json.loads(raw)
        params = {str(k): str(v) for k, v in data.get("p", {}).items()}
        customer = data.get("c")
        return cls(
            data["to"], data["k"], data["s"], data["l"], params, str(customer) if customer else None
        )


def _line(entry: Entry) -> dict[str, Any]:
    """An entry as a relay notice carries it."""
    line: dict[str, Any] = {"r": entry.role, "t": entry.text}
    if entry.author:
        line["a"] = entry.author
    if entry.buttons:
        line["b"] = [[b.title, b.payload] for b in entry.buttons]
    if entry.card is not None:
        line["c"] = entry.card.as_dict()
    return line


# The scheduler job kind whose data is a Notice to publish when it falls due (e.g. "tell me
# when the outage is over").
NOTICE_JOB = "notice"


class Channel(Protocol):
    """A way to reach a customer outside a turn (web transcript, Telegram, SMS).

    `deliver` is given replies already in `locale` (for what the channel adds itself, such as
    an SMS menu's "Reply 1"); it raises Unreachable when the chat can never be reached,
    anything else when it failed this time (the outbox retries later)."""

    async def deliver(self, chat: str, replies: Sequence[Reply], locale: str) -> None: ...


def pushes(channel: Channel) -> bool:
    """Whether the channel is sent what is said outside a turn (`pushes = True`): it does
    not read the transcript as the web chat does."""
    return bool(getattr(channel, "pushes", False))


class TranscriptChannel:
    """Notices join the conversation's transcript: the web chat's events feed, the lines
    `shouwen chat` prints. `name` is the channel it serves."""

    pushes = False

    def __init__(
        self, store: ConversationStore, clock: Callable[[], float] = time.time, name: str = "web"
    ) -> None:
        self._store = store
        self._clock = clock
        self._name = name

    async def deliver(self, chat: str, replies: Sequence[Reply], locale: str) -> None:
        conversation = f"{self._name}:{chat}"
        state, _seq = await self._store.load(conversation)
        if state is None:  # expired or never was: nobody will read this transcript
            raise Unreachable("the conversation is gone")
        now = self._clock()
        entries = [NewEntry("bot", r.text, now, r.buttons, r.card) for r in replies]
        await self._store.append(conversation, entries)


class Outbox:
    """Publishes notices and runs the workers that deliver them."""

    def __init__(
        self,
        redis: aioredis.Redis,
        render: Callable[[Notice], list[Reply]],
        channels: Mapping[str, Channel],
        store: ConversationStore,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 5,
        *,
        min_idle_ms: int = 60_000,
        batcher: ScriptBatcher | None = None,
        backoff_s: float = 2.0,
        backoff_cap_s: float = 600.0,
    ) -> None:
        self._redis = redis
        self._render = render
        self._channels = dict(channels)
        self._store = store
        self._clock = clock
        self.max_attempts = max_attempts
        self._min_idle_ms = min_idle_ms
        self._backoff_s = backoff_s
        self._backoff_cap_s = backoff_cap_s
        # Publishing is a script so that it can share the pipeline of the turn's own scripts.
        self._publish = redis.register_script(PUBLISH)
        self._batch = batcher or ScriptBatcher(redis)
        self._settle = redis.register_script(SETTLE)
        self._requeue = redis.register_script(REQUEUE)
        self._group_ready = False
        self._wake = asyncio.Event()  # set by a publish in this process

    def add_channel(self, name: str, channel: Channel) -> None:
        """Register a channel started after the outbox (a connector's sender)."""
        self._channels[name] = channel

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): 2, 4, 8, ... capped."""
        return float(min(self._backoff_s * 2 ** (attempt - 1), self._backoff_cap_s))

    async def publish(self, notice: Notice) -> str:
        """Queue `notice` for delivery; returns the stream entry id."""
        entry_id = await guarded(self._batch.run(self._publish, [keys.OUTBOX], [notice.to_json()]))
        self._wake.set()
        return str(entry_id)

    async def relay(
        self, conversation: str, locale: str, entries: Sequence[Entry], *, news: bool = False
    ) -> None:
        """Lines just added to a conversation's transcript outside a turn (an agent's message,
        the handoff's news) are sent on to its channel when that channel does not read the
        transcript; durably, through the outbox, like any notice. `news`: only a running
        commentary (the queue moved), which a channel may decline (`takes_news = False`)."""
        channel = self._channels.get(conversation.partition(":")[0])
        if channel is None or not pushes(channel) or not entries:
            return
        if news and not getattr(channel, "takes_news", True):
            return
        lines = [_line(entry) for entry in entries if entry.role in ("bot", "agent")]
        if lines:
            params = {"entries": json.dumps(lines, ensure_ascii=False)}
            await self.publish(Notice(conversation, RELAY, "", locale, params))

    async def run(self, consumer: str, stop: asyncio.Event | None = None) -> None:
        """Deliver notices until `stop` is set (or the task is cancelled); `consumer` names
        this worker in the group.

        Reads never block in Redis: a cancelled blocking read can leave redis-py's
        connection waiting (and swallow the cancellation), so the worker polls, sleeping
        on `stop` and on local publishes in between: a notice published in this process is
        sent at once, one from another process within IDLE_POLL_S."""
        stop = stop or asyncio.Event()
        failures = 0  # steps failed in a row: the pause grows, the log says it once
        while not stop.is_set():
            stop_if_cancelled()
            try:
                handled = await self._step(consumer, None)
                if failures:
                    log.info("outbox worker %s: working again", consumer)
                failures = 0
                if handled:
                    continue
            except StoreUnavailable as error:
                failures += 1
                if failures == 1:
                    log.warning("outbox worker %s: store unavailable: %s", consumer, error)
            except Exception:  # a worker must outlive a bad entry; its notice stays pending
                failures += 1
                log.exception("outbox worker %s failed a step", consumer)
            await self._idle(stop, IDLE_POLL_S * 2 ** min(failures, MAX_BACKOFF_DOUBLINGS))

    async def _idle(self, stop: asyncio.Event, pause_s: float) -> None:
        self._wake.clear()
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=pause_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def drain(self, consumer: str) -> int:
        """Process what is due now without blocking; returns how many entries were settled."""
        total = 0
        while handled := await self._step(consumer, None):
            total += handled
        return total

    async def retries(self) -> int:
        """Notices waiting for a later attempt."""
        return int(await guarded(self._redis.zcard(keys.OUTBOX_RETRY)))

    async def dead(self) -> list[tuple[Notice, str, int]]:
        """Notices given up on, oldest first: (notice, reason, attempts)."""
        items = await guarded(self._redis.xrange(keys.OUTBOX_DEAD, "-", "+"))
        return [(Notice.from_json(f["n"]), f["reason"], int(f["a"])) for _id, f in items]

    async def _step(self, consumer: str, block_ms: int | None) -> int:
        await self._ensure_group()
        await guarded(
            self._requeue(keys=[keys.OUTBOX_RETRY, keys.OUTBOX], args=[self._clock(), BATCH])
        )
        handled = 0
        for entry_id, fields in await self._claim_stale(consumer):
            handled += await self._handle(entry_id, fields)
        for entry_id, fields in await self._read_new(consumer, block_ms):
            handled += await self._handle(entry_id, fields)
        return handled

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # From the stream's start, so notices published before any worker ran are sent.
            await guarded(self._redis.xgroup_create(keys.OUTBOX, GROUP, id="0", mkstream=True))
        except StoreUnavailable as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def _claim_stale(self, consumer: str) -> list[tuple[str, dict[str, str]]]:
        reply = await self._call(
            self._redis.xautoclaim(
                keys.OUTBOX, GROUP, consumer, self._min_idle_ms, "0-0", count=BATCH
            )
        )
        if not reply:
            return []
        # [next start, [(id, fields), ...], deleted ids]; a deleted entry has fields None.
        return [(i, f) for i, f in reply[1] if f]

    async def _read_new(
        self, consumer: str, block_ms: int | None
    ) -> list[tuple[str, dict[str, str]]]:
        reply = await self._call(
            self._redis.xreadgroup(GROUP, consumer, {keys.OUTBOX: ">"}, count=BATCH, block=block_ms)
        )
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3
            return [(i, f) for i, f in reply.get(keys.OUTBOX, [[]])[0] if f]
        return [(i, f) for i, f in reply[0][1] if f]

    async def _call(self, call: Any) -> Any:
        try:
            return await guarded(call)
        except StoreUnavailable as error:
            if "NOGROUP" in str(error):  # the stream was deleted; recreate it next step
                self._group_ready = False
                return None
            raise

    async def _handle(self, entry_id: str, fields: Mapping[str, str]) -> int:
        attempt = int(fields.get("a", "1"))
        raw = fields.get("n", "")
        try:
            notice = Notice.from_json(raw)
        except (ValueError, KeyError, TypeError, AttributeError):
            return await self._finish(entry_id, "dead", raw, attempt, "malformed notice")
        targets = await self._targets(notice)
        if not targets:
            channel_name = notice.to.partition(":")[0]
            return await self._finish(
                entry_id, "dead", raw, attempt, f"unknown channel: {channel_name}"
            )
        # Conversation ids stay out of the log: a web one opens its transcript.
        if notice.kind != RELAY and not await self._wants_notices(targets[0]):
            log.info("outbox: %s skipped, its customer asked for no notices", entry_id)
            return await self._finish(entry_id, "ack", raw, attempt)
        replies = self._render(notice)
        reason = ""
        for target in targets:
            channel_name, _sep, chat = target.partition(":")
            if target != targets[0] and not await self._wants_notices(target):
                continue
            try:
                async with asyncio.timeout(DELIVERY_TIMEOUT_S):  # a hung channel holds no worker
                    await self._channels[channel_name].deliver(chat, replies, notice.locale)
            except Unreachable as error:  # never on this channel: the next one, if any
                reason = f"unreachable on {channel_name}: {error}"[:500]
                log.info("outbox: %s %s", entry_id, reason)
                continue
            except Exception as error:  # any other failure is retried, then dead-lettered
                reason = f"{type(error).__name__}: {error}"[:500]
                if attempt >= self.max_attempts:
                    log.warning("outbox: giving up %s (%s): %s", entry_id, notice.kind, reason)
                    return await self._finish(entry_id, "dead", raw, attempt, reason)
                log.info("outbox: attempt %d of %s failed: %s", attempt, entry_id, reason)
                return await self._finish(entry_id, "retry", raw, attempt + 1, reason)
            return await self._finish(entry_id, "ack", raw, attempt)
        log.warning("outbox: giving up %s (%s): %s", entry_id, notice.kind, reason)
        return await self._finish(entry_id, "dead", raw, attempt, reason)

    async def _targets(self, notice: Notice) -> list[str]:
        """Where to try the notice, best first: the customer's most recently used
        conversation on a channel we have (else the one the matter started in), then, for
        a verified customer, their SMS."""
        first = notice.to
        if notice.customer is not None and notice.kind != RELAY:
            for conversation in await self._conversations(notice.customer):
                if conversation.partition(":")[0] in self._channels:
                    first = conversation
                    break
        targets = [first] if first.partition(":")[0] in self._channels else []
        if notice.customer is not None and notice.kind != RELAY and SMS in self._channels:
            sms = f"{SMS}:{notice.customer}"
            if sms not in targets:
                targets.append(sms)
        return targets

    async def _conversations(self, customer: str) -> list[str]:
        key = keys.customer_conversations(customer)
        return list(await guarded(self._redis.zrevrange(key, 0, -1)))

    async def _wants_notices(self, conversation: str) -> bool:
        state, _seq = await self._store.load(conversation)
        try:
            return state is None or ConversationState.from_json(state).notify
        except (ValueError, TypeError):  # unreadable state: the notice is still owed
            return True

    async def _finish(
        self, entry_id: str, action: str, raw: str, attempt: int, reason: str = ""
    ) -> int:
        due = self._clock() + self.backoff(attempt - 1) if action == "retry" else 0
        keys_ = [keys.OUTBOX, keys.OUTBOX_RETRY, keys.OUTBOX_DEAD]
        args = [GROUP, entry_id, action, due, raw, attempt, reason, DEAD_MAXLEN]
        await guarded(self._settle(keys=keys_, args=args))
        return 1
