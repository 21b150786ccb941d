"""Desk accounts: agents and supervisors, their passwords, sessions and presence.

Passwords are kept as argon2id hashes (memory-hard, RFC 9106), checked in a worker thread
so a sign-in does not stall the event loop. Five failed sign-ins for one name within 15
minutes lock that name for 15 minutes; one script counts each attempt before the password
is checked, so guesses sent in parallel cannot get past the limit, and unknown names are
counted and timed like real ones, so neither the answer nor the lock tells which exist.

A session token is 32 random bytes held by the browser only; Redis keeps its sha256, so a
copy of the database opens no desk. Sessions end after 12 hours without use. Presence is
what an agent said (online, away, offline) and when their desk last beat: a desk silent
for 90 seconds counts as offline, whatever it last said.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.services.desk_bus import EVERYONE, DeskBus, DeskEvent
from bot.store import keys
from bot.store.guard import guarded

log = logging.getLogger(__name__)

ROLES = ("agent", "supervisor")
STATUSES = ("online", "away", "offline")
_NAME = re.compile(r"[a-z0-9_.-]{2,32}")
_TEAM = re.compile(r"[a-z0-9_.-]{1,32}")
MAX_DISPLAY_CHARS = 64
MIN_PASSWORD_CHARS = 10
# Long enough for any passphrase or manager-made password; bounds the work of one check.
MAX_PASSWORD_CHARS = 1024
MAX_LOGIN_FAILURES = 5
LOGIN_WINDOW_S = keys.LOGIN_LOCK_S  # failures are counted as long as a lock lasts
# The desk's socket beats every 30 s or so; three missed beats and the agent is away for good.
HEARTBEAT_FRESH_S = 90

# KEYS: agent.  ARGV: field, value, field, value...  Returns 1 when created, 0 when taken.
CREATE = """
local agent = KEYS[1]
if redis.call('EXISTS', agent) == 1 then
  return 0
end
redis.call('HSET', agent, unpack(ARGV))
return 1
"""

# KEYS: agent, login failures.  ARGV: new hash, the hash it replaces ("" = whichever).
# Returns 1 when set, 0 when there is no such agent or the hash changed meanwhile (so a
# rehash at sign-in never undoes a password reset made at the same moment).
REPLACE_HASH = """
local agent, failures = KEYS[1], KEYS[2]
local new_hash, replaces = ARGV[1], ARGV[2]
local current = redis.call('HGET', agent, 'pw')
if not current or (replaces ~= '' and current ~= replaces) then
  return 0
end
redis.call('HSET', agent, 'pw', new_hash)
redis.call('DEL', failures)
return 1
"""

# KEYS: login failures.  ARGV: now, window s, max attempts, locked until if over, keep ms.
# Returns {"locked", locked until} | {"ok"}. Counts the attempt before its password is
# checked; a sign-in that succeeds deletes the count.
BEGIN_LOGIN = """
local failures = KEYS[1]
local now, window_s, max_attempts = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local locked_until_if_over, keep_ms = ARGV[4], ARGV[5]
local state = redis.call('HMGET', failures, 'first', 'until')
local first, locked_until = tonumber(state[1]), tonumber(state[2])
if locked_until and locked_until > now then
  return {'locked', state[2]}
end
if locked_until or not first or now - first >= window_s then
  redis.call('DEL', failures)
  redis.call('HSET', failures, 'first', ARGV[1])
end
local attempts = redis.call('HINCRBY', failures, 'n', 1)
redis.call('PEXPIRE', failures, keep_ms)
if attempts > max_attempts then
  redis.call('HSET', failures, 'until', locked_until_if_over)
  return {'locked', locked_until_if_over}
end
return {'ok'}
"""

# KEYS: login failures.  ARGV: max attempts, locked until, keep ms.
# Returns 1 when this failure locked the name. A lock already set is kept as it is.
LOGIN_FAILED = """
local failures = KEYS[1]
local max_attempts, locked_until, keep_ms = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local attempts = tonumber(redis.call('HGET', failures, 'n'))
if attempts and attempts >= max_attempts then
  redis.call('HSETNX', failures, 'until', locked_until)
  redis.call('PEXPIRE', failures, keep_ms)
  return 1
end
return 0
"""

# KEYS: session.  ARGV: now, idle s, keep ms.  Returns {agent, csrf}, or nil when there is
# no such session or it sat unused too long (then it is deleted). Use slides the expiry.
TOUCH_SESSION = """
local session = KEYS[1]
local now, idle_s, keep_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local found = redis.call('HMGET', session, 'agent', 'csrf', 'seen')
if not found[1] or not found[2] then
  return false
end
if now - (tonumber(found[3]) or 0) >= idle_s then
  redis.call('DEL', session)
  return false
end
redis.call('HSET', session, 'seen', ARGV[1])
redis.call('PEXPIRE', session, keep_ms)
return {found[1], found[2]}
"""

# KEYS: presence.  ARGV: name, now.  Keeps the status the agent chose (online when they
# never chose), refreshes the time. Returns {the record replaced ("" if none), the new one}.
HEARTBEAT = """
local presence = KEYS[1]
local name, now = ARGV[1], ARGV[2]
local previous = redis.call('HGET', presence, name) or ''
local status = string.match(previous, '^(%S+) ') or 'online'
local record = status .. ' ' .. now
redis.call('HSET', presence, name, record)
return {previous, record}
"""


class LoginLocked(Exception):
    """Too many failed sign-ins for a name: refused, right password or not, for a while."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"sign-ins locked for {retry_after} s")
        self.retry_after = retry_after


class AgentExists(ValueError):
    """`Agents.add` was given a name that is taken."""


@dataclass(frozen=True, slots=True)
class Agent:
    """A desk account as the desk shows it (never the password hash)."""

    name: str
    display: str
    role: str  # "agent" | "supervisor"
    team: str = "general"

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "display": self.display, "role": self.role, "team": self.team}


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in desk: who, and the CSRF token its changes must carry."""

    agent: Agent
    csrf: str


def valid_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def new_password() -> str:
    """A strong random password (120 bits), for accounts made by a command or the demo."""
    return secrets.token_urlsafe(15)


def _check_password(name: str, password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValueError(
            f"a password needs {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )
    if password.lower() == name:
        raise ValueError("a password must not be the agent's name")


def _decode(fields: Mapping[str, str]) -> Agent:
    name = fields["name"]
    return Agent(
        name=name,
        display=fields.get("display") or name,
        role=fields.get("role") or "agent",
        team=fields.get("team") or "general",
    )


class Agents:
    """Creates desk accounts and checks their passwords."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Callable[[], float] = time.time,
        *,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._redis = redis
        self._clock = clock
        # argon2id, 64 MiB, 3 passes (RFC 9106's second recommendation): ~0.2 s a check.
        self._hasher = hasher or PasswordHasher()
        self._decoy: str | None = None
        self._create = redis.register_script(CREATE)
        self._replace_hash = redis.register_script(REPLACE_HASH)
        self._begin_login = redis.register_script(BEGIN_LOGIN)
        self._login_failed = redis.register_script(LOGIN_FAILED)

    async def add(
        self,
        name: str,
        password: str,
        role: str,
        display: str | None = None,
        team: str = "general",
    ) -> Agent:
        """Create an account (ValueError on a bad name, role, team or weak password;
        AgentExists when the name is taken)."""
        if not valid_name(name):
            raise ValueError("a name has 2 to 32 characters: a-z, 0-9, '_', '.', '-'")
        if role not in ROLES:
            raise ValueError(f"a role is one of {', '.join(ROLES)}")
        if _TEAM.fullmatch(team) is None:
            raise ValueError("a team has 1 to 32 characters: a-z, 0-9, '_', '.', '-'")
        display = (display or name).strip()
        if not 0 < len(display) <= MAX_DISPLAY_CHARS or not display.isprintable():
            raise ValueError(f"a display name has 1 to {MAX_DISPLAY_CHARS} printable characters")
        _check_password(name, password)
        agent = Agent(name, display, role, team)
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        fields = {**agent.as_dict(), "pw": hashed, "created": repr(self._clock())}
        args = [item for pair in fields.items() for item in pair]
        # The list first: a crash before the account leaves a listed name without an
        # account, which every reader skips and a second `add` completes.
        await guarded(self._redis.sadd(keys.AGENTS, name))  # type: ignore[arg-type]
        if not await guarded(self._create(keys=[keys.agent(name)], args=args)):
            raise AgentExists(f"there is already an agent named {name!r}")
        return agent

    async def get(self, name: str) -> Agent | None:
        if not valid_name(name):
            return None
        fields = await guarded(self._redis.hgetall(keys.agent(name)))  # type: ignore[arg-type]
        return _decode(fields) if fields.get("name") else None

    async def all(self) -> list[Agent]:
        """Every agent, by name."""
        names = sorted(await guarded(self._redis.smembers(keys.AGENTS)))  # type: ignore[arg-type]
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(keys.agent(name))
        records = await guarded(pipe.execute())
        return [_decode(fields) for fields in records if fields.get("name")]

    async def set_password(self, name: str, password: str) -> None:
        """Replace an agent's password and lift any sign-in lock (LookupError: no agent)."""
        _check_password(name, password)
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        if not await self._store_hash(name, hashed, replaces=""):
            raise LookupError(f"there is no agent named {name!r}")

    async def check(self, name: str, password: str) -> Agent | None:
        """The agent when `password` is theirs, else None (unknown name alike);
        LoginLocked after MAX_LOGIN_FAILURES failures within LOGIN_WINDOW_S."""
        if not valid_name(name) or len(password) > MAX_PASSWORD_CHARS:
            return None  # no such account can exist; nothing to count or to time
        failures = keys.agent_login_failures(name)
        now = self._clock()
        args: list[str | int] = [
            repr(now),
            LOGIN_WINDOW_S,
            MAX_LOGIN_FAILURES,
            repr(now + keys.LOGIN_LOCK_S),
            keys.LOGIN_LOCK_S * 1000,
        ]
        reply = await guarded(self._begin_login(keys=[failures], args=args))
        if reply[0] == "locked":
            raise LoginLocked(max(1, math.ceil(float(reply[1]) - now)))
        fields = await guarded(self._redis.hgetall(keys.agent(name)))  # type: ignore[arg-type]
        stored = fields.get("pw")
        # An unknown name costs one hash check too, so timing does not tell it apart.
        matched = await self._verify(stored or await self._decoy_hash(), password)
        if not (matched and stored):
            failed: list[str | int] = [
                MAX_LOGIN_FAILURES,
                repr(now + keys.LOGIN_LOCK_S),
                keys.LOGIN_LOCK_S * 1000,
            ]
            await guarded(self._login_failed(keys=[failures], args=failed))
            return None
        await guarded(self._redis.delete(failures))
        if self._hasher.check_needs_rehash(stored):  # the cost parameters were raised
            rehashed = await asyncio.to_thread(self._hasher.hash, password)
            await self._store_hash(name, rehashed, replaces=stored)
        return _decode(fields)

    async def _verify(self, stored: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(16))
        return self._decoy

    async def _store_hash(self, name: str, hashed: str, replaces: str) -> bool:
        if not valid_name(name):
            return False
        keys_ = [keys.agent(name), keys.agent_login_failures(name)]
        return bool(await guarded(self._replace_hash(keys=keys_, args=[hashed, replaces])))


def token_digest(token: str) -> str:
    """What Redis keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class Sessions:
    """Desk sessions: a random token for the browser's cookie, a CSRF token for its page."""

    def __init__(
        self, redis: aioredis.Redis, agents: Agents, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._agents = agents
        self._clock = clock
        self._touch = redis.register_script(TOUCH_SESSION)

    async def start(self, agent: Agent) -> tuple[str, str]:
        """A new session for `agent`: (token, csrf). Only the token's hash is stored."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = repr(self._clock())
        key = keys.desk_session(token_digest(token))
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"agent": agent.name, "csrf": csrf, "created": now, "seen": now})
        pipe.pexpire(key, keys.DESK_SESSION_IDLE_S * 1000)
        await guarded(pipe.execute())
        return token, csrf

    async def find(self, token: str) -> Session | None:
        """The live session of `token`, its idle time reset; None when unknown or expired,
        or when its agent no longer exists."""
        if not token or len(token) > 128:
            return None
        key = keys.desk_session(token_digest(token))
        args: list[str | int] = [
            repr(self._clock()),
            keys.DESK_SESSION_IDLE_S,
            keys.DESK_SESSION_IDLE_S * 1000,
        ]
        found = await guarded(self._touch(keys=[key], args=args))
        if not found:
            return None
        agent = await self._agents.get(str(found[0]))
        if agent is None:
            await self.end(token)
            return None
        return Session(agent, str(found[1]))

    async def end(self, token: str) -> None:
        """Sign the session out (nothing happens for an unknown token)."""
        if token and len(token) <= 128:
            await guarded(self._redis.delete(keys.desk_session(token_digest(token))))


def _effective(record: str | None, now: float) -> str:
    """The status a presence record means now: offline when absent, odd or stale."""
    if not record:
        return "offline"
    status, _sep, beat = record.partition(" ")
    try:
        fresh = now - float(beat) <= HEARTBEAT_FRESH_S
    except ValueError:
        return "offline"
    return status if fresh and status in STATUSES else "offline"


class Presence:
    """Who is at their desk: the status each agent chose and their desk's last heartbeat."""

    def __init__(
        self, redis: aioredis.Redis, bus: DeskBus, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._bus = bus
        self._clock = clock
        self._heartbeat = redis.register_script(HEARTBEAT)

    async def set(self, name: str, status: str) -> None:
        """Record the status `name` chose (counts as a heartbeat) and tell every desk."""
        if status not in STATUSES:
            raise ValueError(f"a status is one of {', '.join(STATUSES)}")
        record = f"{status} {self._clock()!r}"
        await guarded(self._redis.hset(keys.PRESENCE, name, record))  # type: ignore[arg-type]
        await self._announce(name, status)

    async def heartbeat(self, name: str) -> None:
        """The desk of `name` is still there; tells every desk when that brings them back."""
        now = self._clock()
        previous, record = await guarded(
            self._heartbeat(keys=[keys.PRESENCE], args=[name, repr(now)])
        )
        before, after = _effective(previous, now), _effective(record, now)
        if after != before:
            await self._announce(name, after)

    async def status(self, name: str) -> str:
        record = await guarded(self._redis.hget(keys.PRESENCE, name))  # type: ignore[arg-type]
        return _effective(record, self._clock())

    async def all(self) -> dict[str, str]:
        """Every agent with a presence record -> their status now."""
        records = await guarded(self._redis.hgetall(keys.PRESENCE))  # type: ignore[arg-type]
        now = self._clock()
        return {name: _effective(record, now) for name, record in sorted(records.items())}

    async def online(self, names: Iterable[str] | None = None) -> list[str]:
        """Those of `names` (default: everyone) who are online with a fresh heartbeat."""
        if names is None:
            return [name for name, status in (await self.all()).items() if status == "online"]
        wanted = list(names)
        if not wanted:
            return []
        records = await guarded(self._redis.hmget(keys.PRESENCE, wanted))  # type: ignore[arg-type]
        now = self._clock()
        return [
            name
            for name, record in zip(wanted, records, strict=True)
            if _effective(record, now) == "online"
        ]

    async def _announce(self, name: str, status: str) -> None:
        await self._bus.publish(DeskEvent("presence", EVERYONE, {"agent": name, "status": status}))


async def create_demo_agents(agents: Agents) -> list[tuple[str, str, str]]:
    """Accounts to try the desk with on the embedded store: [(name, role, password)], each
    with a fresh random password (an existing demo account gets a new one)."""
    made: list[tuple[str, str, str]] = []
    for name, role, display in (
        ("demo-agent", "agent", "Demo Agent"),
        ("demo-supervisor", "supervisor", "Demo Supervisor"),
    ):
        password = new_password()
        try:
            await agents.add(name, password, role, display=display)
        except AgentExists:
            await agents.set_password(name, password)
        made.append((name, role, password))
    return made
