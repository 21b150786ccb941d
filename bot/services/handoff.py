"""Handoffs to people: the queue, who holds a conversation, and who owns its case.

A handoff is one hash per conversation (`keys.handoff`): queued, held by an agent, or ended.
Every decision on it is one Lua script on that hash, so two agents accepting the same
conversation at the same moment cannot both win. The queue itself is a sorted set by the
time each conversation asked; its listing trusts the handoff hashes, so an entry left behind
by a crash between the two writes is skipped (and dropped).

Ownership lives on the case (首问负责制): the first agent who accepts a customer's case
becomes its owner, recorded with an archive event; later agents are helpers; only a
supervisor changes the owner, with a reason in the archive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.services.case_records import Case
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.guard import guarded

# Handoff hashes outlive their end by this much: a customer who comes back within it is
# recognised, and goes to the same owner.
HANDOFF_TTL_S = 30 * 86_400
# A conversation routed to its owner waits this long for them before anyone may take it.
RESERVED_S = 120
# Entries the audit stream keeps (reveals of personal data), about.
AUDIT_KEEP = 100_000
# Characters of the customer's latest message shown in the queue.
PREVIEW_CHARS = 80

# KEYS: handoff.  ARGV: now, case, owner ("" none), reserved for ("" none), reserved until,
# reason, locale, customer ("" none), ttl, preview (the words that asked).  Queues the
# conversation unless a handoff is already under way.  Returns {"new"|"queued"|"held", since}.
ENQUEUE = """
local h = KEYS[1]
local now, case, owner, reserve, until_ = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local reason, locale, customer, ttl, preview = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local state = redis.call('HGET', h, 'state')
if state == 'queued' or state == 'held' then
  return {state, redis.call('HGET', h, 'since')}
end
redis.call('DEL', h)
redis.call('HSET', h, 'state', 'queued', 'since', now, 'case', case, 'reason', reason,
  'locale', locale, 'seen', now, 'preview', preview)
if owner ~= '' then redis.call('HSET', h, 'owner', owner) end
if reserve ~= '' then redis.call('HSET', h, 'for', reserve, 'until', until_) end
if customer ~= '' then redis.call('HSET', h, 'customer', customer) end
redis.call('EXPIRE', h, ttl)
return {'new', now}
"""

# KEYS: handoff.  ARGV: agent, now, ttl.  The agent takes a queued conversation.
# Returns {"ok", since} or {"gone"|"held"|"reserved", who}.
ACCEPT = """
local h = KEYS[1]
local agent, now, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local state = redis.call('HGET', h, 'state')
if state == 'held' then return {'held', redis.call('HGET', h, 'agent')} end
if state ~= 'queued' then return {'gone', ''} end
local reserved = redis.call('HGET', h, 'for')
if reserved and reserved ~= agent and now < tonumber(redis.call('HGET', h, 'until')) then
  return {'reserved', reserved}
end
redis.call('HSET', h, 'state', 'held', 'agent', agent, 'accepted', ARGV[2])
redis.call('HDEL', h, 'for', 'until', 'team')
redis.call('EXPIRE', h, ttl)
return {'ok', redis.call('HGET', h, 'since')}
"""

# KEYS: handoff.  ARGV: expected state(s) "queued held", agent ("" any), now, why, ttl.
# Ends a handoff in one of the expected states (held: only by its agent unless agent "").
# Returns {"ok", former state, former agent} or {"no", state}.
END = """
local h = KEYS[1]
local expected, agent, now, why, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local state = redis.call('HGET', h, 'state') or 'none'
if not string.find(' ' .. expected .. ' ', ' ' .. state .. ' ', 1, true) then
  return {'no', state}
end
local holder = redis.call('HGET', h, 'agent') or ''
if state == 'held' and agent ~= '' and holder ~= agent then return {'no', 'other'} end
redis.call('HSET', h, 'state', 'ended', 'ended', now, 'why', why)
redis.call('EXPIRE', h, ttl)
return {'ok', state, holder}
"""

# KEYS: handoff.  ARGV: from agent, to agent ("" back to the queue), team, now, ttl.
# The holder passes the conversation to another agent, or back to the queue for a team.
TRANSFER = """
local h = KEYS[1]
local from, to, team, now, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HGET', h, 'state') ~= 'held' or redis.call('HGET', h, 'agent') ~= from then
  return 0
end
if to == '' then
  redis.call('HSET', h, 'state', 'queued', 'since', now, 'team', team)
  redis.call('HDEL', h, 'agent')
else
  redis.call('HSET', h, 'agent', to, 'accepted', now)
end
redis.call('EXPIRE', h, ttl)
return 1
"""

# KEYS: case, case events.  ARGV: agent, now, ttl.  First contact: the agent becomes the
# owner of a case without one; otherwise joins its helpers.  Returns {"owner"|"helper"|
# "already", owner} or {"missing"}.
TAKE_CASE = """
local case, events = KEYS[1], KEYS[2]
local agent, now, ttl = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', case) == 0 then return {'missing'} end
local owner = redis.call('HGET', case, 'owner')
local state = redis.call('HGET', case, 'state')
if not owner or owner == '' then
  redis.call('HSET', case, 'owner', agent, 'updated', now)
  redis.call('XADD', events, '*', 'ts', now, 'actor', agent, 'from', state, 'to', state,
    'note', 'owner: ' .. agent .. ' (first contact)')
  redis.call('EXPIRE', case, ttl)
  redis.call('EXPIRE', events, ttl)
  return {'owner', agent}
end
if owner == agent then return {'already', owner} end
local helpers = ' ' .. (redis.call('HGET', case, 'helpers') or '') .. ' '
if not string.find(helpers, ' ' .. agent .. ' ', 1, true) then
  redis.call('HSET', case, 'helpers', (redis.call('HGET', case, 'helpers') or '') .. ' ' .. agent)
  redis.call('XADD', events, '*', 'ts', now, 'actor', agent, 'from', state, 'to', state,
    'note', 'helper: ' .. agent)
end
return {'helper', owner}
"""

# KEYS: case, case events.  ARGV: new owner, supervisor, reason, now, ttl.  Only called for a
# supervisor.  Returns the former owner ("" none) or false when there is no such case.
SET_OWNER = """
local case, events = KEYS[1], KEYS[2]
local owner, by, reason, now, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', case) == 0 then return false end
local former = redis.call('HGET', case, 'owner') or ''
local state = redis.call('HGET', case, 'state')
redis.call('HSET', case, 'owner', owner, 'updated', now)
redis.call('XADD', events, '*', 'ts', now, 'actor', by, 'from', state, 'to', state,
  'note', 'owner: ' .. former .. ' -> ' .. owner .. ': ' .. reason)
redis.call('EXPIRE', case, ttl)
redis.call('EXPIRE', events, ttl)
return former
"""

# KEYS: case, case events.  ARGV: actor, note, now, ttl.  A note in the archive, no move.
NOTE = """
local case, events = KEYS[1], KEYS[2]
if redis.call('EXISTS', case) == 0 then return 0 end
local state = redis.call('HGET', case, 'state')
redis.call('XADD', events, '*', 'ts', ARGV[3], 'actor', ARGV[1], 'from', state, 'to', state,
  'note', ARGV[2])
redis.call('EXPIRE', events, ARGV[4])
return 1
"""


# KEYS: the open-case index.  ARGV: created, number.
INDEX_OPEN = """
return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
"""


class Taken(Exception):
    """Someone else holds (or is reserved) this conversation, or it left the queue."""

    def __init__(self, why: str, who: str = "") -> None:
        super().__init__(f"{why} {who}".strip())
        self.why = why  # "held", "reserved" or "gone"
        self.who = who


@dataclass(frozen=True, slots=True)
class HandoffRecord:
    """One conversation's handoff as stored."""

    conversation: str
    state: str  # "queued", "held", "ended"
    since: float  # when it (last) joined the queue
    case: str | None
    owner: str | None  # the case's owner when it was queued
    agent: str | None  # who holds it
    reserved_for: str | None
    reserved_until: float
    team: str | None
    reason: str
    locale: str
    customer: str | None
    seen: float  # the customer's latest message
    preview: str
    accepted: float | None
    position: int  # the queue position the customer was last told

    @classmethod
    def decode(cls, conversation: str, fields: dict[str, str]) -> HandoffRecord:
        return cls(
            conversation=conversation,
            state=fields.get("state", "ended"),
            since=float(fields.get("since", 0)),
            case=fields.get("case") or None,
            owner=fields.get("owner") or None,
            agent=fields.get("agent") or None,
            reserved_for=fields.get("for") or None,
            reserved_until=float(fields.get("until", 0)),
            team=fields.get("team") or None,
            reason=fields.get("reason", ""),
            locale=fields.get("locale", "zh"),
            customer=fields.get("customer") or None,
            seen=float(fields.get("seen", 0)),
            preview=fields.get("preview", ""),
            accepted=float(fields["accepted"]) if "accepted" in fields else None,
            position=int(fields.get("pos", 0)),
        )


class Handoffs:
    """The handoff records, the queue and case ownership, in Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Callable[[], float] = time.time,
        batcher: ScriptBatcher | None = None,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._batch = batcher or ScriptBatcher(redis)
        self._enqueue = redis.register_script(ENQUEUE)
        self._accept = redis.register_script(ACCEPT)
        self._end = redis.register_script(END)
        self._transfer = redis.register_script(TRANSFER)
        self._take_case = redis.register_script(TAKE_CASE)
        self._set_owner = redis.register_script(SET_OWNER)
        self._note = redis.register_script(NOTE)
        self._index_open = redis.register_script(INDEX_OPEN)

    # --- The customer's side ----------------------------------------------------------

    async def enqueue(
        self,
        conversation: str,
        *,
        case: str,
        owner: str | None,
        reserve_for: str | None,
        reason: str,
        locale: str,
        customer: str | None,
        preview: str = "",
    ) -> tuple[bool, float]:
        """Queue the conversation; (False, since) when a handoff was already under way."""
        now = self._clock()
        args: list[str | float] = [
            now,
            case,
            owner or "",
            reserve_for or "",
            now + RESERVED_S,
            reason,
            locale,
            customer or "",
            HANDOFF_TTL_S,
            preview[:PREVIEW_CHARS],
        ]
        status, since = await guarded(
            self._batch.run(self._enqueue, [keys.handoff(conversation)], args)
        )
        if status == "new":
            await guarded(self._redis.zadd(keys.HANDOFF_QUEUE, {conversation: now}))
        return status == "new", float(since)

    async def get(self, conversation: str) -> HandoffRecord | None:
        """The conversation's handoff, ended ones included, or None."""
        fields = await guarded(self._redis.hgetall(keys.handoff(conversation)))  # type: ignore[arg-type]
        return HandoffRecord.decode(conversation, fields) if fields else None

    async def heard(self, conversation: str, text: str) -> None:
        """The customer spoke: remember when, and show the start of it in the queue."""
        mapping = {"seen": self._clock(), "preview": text[:PREVIEW_CHARS]}
        await guarded(self._redis.hset(keys.handoff(conversation), mapping=mapping))  # type: ignore[arg-type]

    async def told_position(self, conversation: str, position: int) -> None:
        await guarded(self._redis.hset(keys.handoff(conversation), "pos", position))  # type: ignore[arg-type]

    # --- The queue --------------------------------------------------------------------

    async def queue(self) -> list[HandoffRecord]:
        """Queued conversations, longest waiting first (stale entries dropped)."""
        members = await guarded(self._redis.zrange(keys.HANDOFF_QUEUE, 0, -1))
        if not members:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for conversation in members:
            pipe.hgetall(keys.handoff(conversation))
        found = await guarded(pipe.execute())
        records, stale = [], []
        for conversation, fields in zip(members, found, strict=True):
            record = HandoffRecord.decode(conversation, fields) if fields else None
            if record is None or record.state != "queued":
                stale.append(conversation)
            else:
                records.append(record)
        if stale:
            await guarded(self._redis.zrem(keys.HANDOFF_QUEUE, *stale))
        records.sort(key=lambda r: r.since)
        return records

    async def position(self, conversation: str) -> int | None:
        """The conversation's place in the queue (1-based), None when it is not queued: one
        read, for the customer's every message while waiting."""
        rank = await guarded(self._redis.zrank(keys.HANDOFF_QUEUE, conversation))
        return None if rank is None else int(rank) + 1

    async def held_by(self, agent: str) -> list[str]:
        """The conversations `agent` holds now."""
        members = await guarded(self._redis.smembers(keys.agent_held(agent)))  # type: ignore[arg-type]
        return sorted(members)

    # --- The agent's side -------------------------------------------------------------

    async def accept(self, conversation: str, agent: str) -> HandoffRecord:
        """`agent` takes the conversation; Taken if someone else has it or it left."""
        args: list[str | float] = [agent, self._clock(), HANDOFF_TTL_S]
        status, detail = await guarded(
            self._batch.run(self._accept, [keys.handoff(conversation)], args)
        )
        if status != "ok":
            raise Taken(str(status), str(detail))
        await guarded(self._redis.zrem(keys.HANDOFF_QUEUE, conversation))
        await guarded(self._redis.sadd(keys.agent_held(agent), conversation))  # type: ignore[arg-type]
        record = await self.get(conversation)
        assert record is not None
        return record

    async def end(
        self, conversation: str, *, states: Sequence[str], agent: str | None, why: str
    ) -> HandoffRecord | None:
        """End a handoff in one of `states` (a held one only by its `agent`, unless None);
        the ended record, or None when it was not in such a state."""
        args: list[str | float] = [" ".join(states), agent or "", self._clock(), why]
        args.append(HANDOFF_TTL_S)
        result = await guarded(self._batch.run(self._end, [keys.handoff(conversation)], args))
        if result[0] != "ok":
            return None
        await guarded(self._redis.zrem(keys.HANDOFF_QUEUE, conversation))
        if result[2]:
            await guarded(self._redis.srem(keys.agent_held(str(result[2])), conversation))  # type: ignore[arg-type]
        return await self.get(conversation)

    async def transfer(
        self, conversation: str, agent: str, *, to: str | None, team: str | None
    ) -> bool:
        """Pass a held conversation to agent `to`, or back to the queue for `team`."""
        now = self._clock()
        args: list[str | float] = [agent, to or "", team or "", now, HANDOFF_TTL_S]
        moved = await guarded(self._batch.run(self._transfer, [keys.handoff(conversation)], args))
        if not moved:
            return False
        await guarded(self._redis.srem(keys.agent_held(agent), conversation))  # type: ignore[arg-type]
        if to:
            await guarded(self._redis.sadd(keys.agent_held(to), conversation))  # type: ignore[arg-type]
        else:
            await guarded(self._redis.zadd(keys.HANDOFF_QUEUE, {conversation: now}))
        return True

    # --- Ownership (on the case) ------------------------------------------------------

    async def take_case(self, number: str, agent: str) -> tuple[str, str | None]:
        """First contact: ("owner", agent) when `agent` became the owner, ("helper", owner)
        when the case had one, ("already", agent) for its owner, ("missing", None)."""
        args: list[str | float] = [agent, self._clock(), keys.CASE_TTL_S]
        result = await guarded(
            self._batch.run(self._take_case, [keys.case(number), keys.case_events(number)], args)
        )
        if result[0] == "owner":
            await self._own(agent, number)
        return str(result[0]), (str(result[1]) if len(result) > 1 else None)

    async def _own(self, agent: str, number: str) -> None:
        key = keys.agent_owned(agent)
        await guarded(self._redis.zadd(key, {number: self._clock()}))
        await guarded(self._redis.expire(key, keys.CASE_TTL_S))

    async def owned_by(self, agent: str, limit: int = 100) -> list[str]:
        """The open cases `agent` owns, most recently taken first."""
        return list(await guarded(self._redis.zrevrange(keys.agent_owned(agent), 0, limit - 1)))

    async def set_owner(self, number: str, owner: str, *, by: str, reason: str) -> str | None:
        """A supervisor gives the case to `owner`; the former owner ("" none), None if no case."""
        args: list[str | float] = [owner, by, reason, self._clock(), keys.CASE_TTL_S]
        former = await guarded(
            self._batch.run(self._set_owner, [keys.case(number), keys.case_events(number)], args)
        )
        if former is None:
            return None
        if former:
            await guarded(self._redis.zrem(keys.agent_owned(str(former)), number))
        await self._own(owner, number)
        return str(former)

    async def track(self, case: Case, moved_from: str | None) -> None:
        """Keep the indexes of open cases (the supervisor's view, each owner's list) as
        cases move (a Cases observer)."""
        done = ("resolved", "closed")
        if case.state in done:
            await guarded(self._redis.zrem(keys.OPEN_CASES, case.number))
            if case.owner:
                await guarded(self._redis.zrem(keys.agent_owned(case.owner), case.number))
        elif moved_from is None or moved_from in done:  # opened, or reopened
            # A script, so that it shares the pipeline of the turn that opened the case.
            args = [case.created, case.number]
            await guarded(self._batch.run(self._index_open, [keys.OPEN_CASES], args))

    async def open_cases(self, limit: int = 500) -> list[str]:
        """Numbers of cases not yet resolved, oldest first."""
        return list(await guarded(self._redis.zrange(keys.OPEN_CASES, 0, limit - 1)))

    async def audit(self, agent: str, action: str, subject: str, reason: str) -> None:
        """Log an access to personal data (who, what, whose, why) in the audit stream."""
        fields = {"ts": self._clock(), "agent": agent, "action": action, "subject": subject}
        fields["reason"] = reason
        await guarded(self._redis.xadd(keys.AUDIT, fields, maxlen=AUDIT_KEEP, approximate=True))  # type: ignore[arg-type]

    async def audit_log(self, count: int = 100) -> list[dict[str, str]]:
        """The newest audit entries, newest first."""
        entries = await guarded(self._redis.xrevrange(keys.AUDIT, count=count))
        return [dict(fields) for _id, fields in entries]

    async def note(self, number: str, actor: str, note: str) -> bool:
        """Add a note to the case's archive without moving it; False if there is no case."""
        args: list[str | float] = [actor, note, self._clock(), keys.CASE_TTL_S]
        return bool(
            await guarded(
                self._batch.run(self._note, [keys.case(number), keys.case_events(number)], args)
            )
        )
