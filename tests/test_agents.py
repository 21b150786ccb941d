"""Desk accounts: argon2id passwords, the sign-in lock, sessions, presence, `agent add`."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest
from argon2 import PasswordHasher

from bot.cli import main
from bot.services.agents import (
    Agent,
    AgentExists,
    Agents,
    LoginLocked,
    Presence,
    Sessions,
    create_demo_agents,
)
from bot.services.desk_bus import DeskBus, DeskEvent
from bot.store import keys
from bot.store.client import RedisHandles, connect
from tests.conftest import MovableClock as Clock

PASSWORD = "correct horse battery"
# Real argon2id, a thousand times cheaper than production's, so the tests run quickly.
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def agents(handles: RedisHandles, clock: Clock) -> Agents:
    return Agents(handles.commands, clock, hasher=CHEAP)


@pytest.fixture
def sessions(handles: RedisHandles, agents: Agents, clock: Clock) -> Sessions:
    return Sessions(handles.commands, agents, clock)


@pytest.fixture
def bus(handles: RedisHandles) -> DeskBus:
    return DeskBus(handles.commands, handles.subscriber)


@pytest.fixture
def presence(handles: RedisHandles, bus: DeskBus, clock: Clock) -> Presence:
    return Presence(handles.commands, bus, clock)


async def wrong_times(agents: Agents, times: int, name: str = "wang.li") -> None:
    for _ in range(times):
        assert await agents.check(name, "not the password") is None


# --- Accounts and passwords -----------------------------------------------------------


async def test_a_password_is_kept_as_an_argon2id_hash(handles: RedisHandles, clock: Clock) -> None:
    agents = Agents(handles.commands, clock)  # the production cost
    agent = await agents.add("wang.li", PASSWORD, "agent", display="王丽")
    assert agent == Agent("wang.li", "王丽", "agent", "general")
    stored = await handles.commands.hgetall(keys.agent("wang.li"))  # type: ignore[misc]
    assert stored["pw"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in "".join(stored.values())
    assert await agents.check("wang.li", PASSWORD) == agent
    assert await agents.check("wang.li", PASSWORD + "!") is None


async def test_an_unknown_name_gets_the_same_answer(agents: Agents) -> None:
    await agents.add("wang.li", PASSWORD, "agent")
    assert await agents.check("zhao.yun", PASSWORD) is None
    assert await agents.check("wang.li", "wrong password") is None
    assert await agents.check("NOT A NAME", PASSWORD) is None
    assert await agents.check("wang.li", "x" * 5000) is None


@pytest.mark.parametrize(
    ("name", "password", "role", "team", "refusal"),
    [
        ("W", PASSWORD, "agent", "general", "a name"),  # too short, upper case
        ("wang li", PASSWORD, "agent", "general", "a name"),
        ("a" * 33, PASSWORD, "agent", "general", "a name"),
        ("wang.li", "short", "agent", "general", "a password"),
        ("wang.li", "wang.li", "agent", "general", "a password"),
        ("wang.li", "WANG.LI", "agent", "general", "a password"),
        ("wang.li", "y" * 1025, "agent", "general", "a password"),
        ("wang.li", PASSWORD, "admin", "general", "a role"),
        ("wang.li", PASSWORD, "agent", "Team A", "a team"),
    ],
)
async def test_bad_accounts_are_refused(
    agents: Agents, name: str, password: str, role: str, team: str, refusal: str
) -> None:
    with pytest.raises(ValueError, match=f"^{refusal} "):
        await agents.add(name, password, role, team=team)
    assert await agents.all() == []


async def test_a_name_is_taken_once(agents: Agents) -> None:
    await agents.add("wang.li", PASSWORD, "agent")
    with pytest.raises(AgentExists):
        await agents.add("wang.li", "another password", "supervisor")
    assert await agents.check("wang.li", PASSWORD) is not None
    assert [a.role for a in await agents.all()] == ["agent"]


async def test_agents_are_listed_by_name(agents: Agents) -> None:
    await agents.add("zhao.yun", PASSWORD, "supervisor", team="north")
    await agents.add("li.na", PASSWORD, "agent", display="Li Na")
    assert await agents.all() == [
        Agent("li.na", "Li Na", "agent", "general"),
        Agent("zhao.yun", "zhao.yun", "supervisor", "north"),
    ]
    assert await agents.get("zhao.yun") == Agent("zhao.yun", "zhao.yun", "supervisor", "north")
    assert await agents.get("nobody") is None
    assert await agents.get("{bad}") is None


async def test_set_password_replaces_it(agents: Agents) -> None:
    await agents.add("wang.li", PASSWORD, "agent")
    await agents.set_password("wang.li", "a brand new password")
    assert await agents.check("wang.li", PASSWORD) is None
    assert await agents.check("wang.li", "a brand new password") is not None
    with pytest.raises(LookupError):
        await agents.set_password("nobody", "a brand new password")
    with pytest.raises(ValueError, match="characters"):
        await agents.set_password("wang.li", "short")


async def test_a_weaker_hash_is_upgraded_at_sign_in(
    handles: RedisHandles, agents: Agents, clock: Clock
) -> None:
    await agents.add("wang.li", PASSWORD, "agent")
    stronger = Agents(handles.commands, clock, hasher=PasswordHasher(time_cost=2))
    assert await stronger.check("wang.li", PASSWORD) is not None
    stored = await handles.commands.hget(keys.agent("wang.li"), "pw")  # type: ignore[misc]
    assert ",t=2," in stored
    assert await stronger.check("wang.li", PASSWORD) is not None


# --- The sign-in lock -----------------------------------------------------------------


async def test_five_failures_lock_the_name_for_fifteen_minutes(
    agents: Agents, clock: Clock
) -> None:
    await agents.add("wang.li", PASSWORD, "agent")
    await wrong_times(agents, 5)
    with pytest.raises(LoginLocked) as locked:
        await agents.check("wang.li", PASSWORD)  # the right password is refused too
    assert locked.value.retry_after == 15 * 60
    clock.advance(15 * 60 - 1)
    with pytest.raises(LoginLocked) as locked:
        await agents.check("wang.li", PASSWORD)
    assert locked.value.retry_after == 1
    clock.advance(1)
    assert await agents.check("wang.li", PASSWORD) is not None


async def test_an_unknown_name_locks_like_a_real_one(agents: Agents) -> None:
    await wrong_times(agents, 5, name="zhao.yun")
    with pytest.raises(LoginLocked):
        await agents.check("zhao.yun", PASSWORD)


async def test_failures_count_within_fifteen_minutes_only(agents: Agents, clock: Clock) -> None:
    await agents.add("wang.li", PASSWORD, "agent")
    await wrong_times(agents, 4)
    clock.advance(15 * 60)
    await wrong_times(agents, 4)
    assert await agents.check("wang.li", PASSWORD) is not None


async def test_a_success_clears_the_count(agents: Agents) -> None:
    await agents.add("wang.li", PASSWORD, "agent")
    await wrong_times(agents, 4)
    assert await agents.check("wang.li", PASSWORD) is not None
    await wrong_times(agents, 4)
    assert await agents.check("wang.li", PASSWORD) is not None


async def test_parallel_guesses_cannot_pass_the_limit(agents: Agents) -> None:
    await agents.add("wang.li", PASSWORD, "agent")
    guesses = [agents.check("wang.li", f"guess number {n}") for n in range(20)]
    results = await asyncio.gather(*guesses, return_exceptions=True)
    assert sum(isinstance(r, LoginLocked) for r in results) >= 15
    assert all(r is None or isinstance(r, LoginLocked) for r in results)
    with pytest.raises(LoginLocked):
        await agents.check("wang.li", PASSWORD)


async def test_a_new_password_lifts_the_lock(agents: Agents) -> None:
    await agents.add("wang.li", PASSWORD, "agent")
    await wrong_times(agents, 5)
    await agents.set_password("wang.li", "a brand new password")
    assert await agents.check("wang.li", "a brand new password") is not None


# --- Sessions -------------------------------------------------------------------------


async def test_a_session_finds_its_agent_and_csrf(agents: Agents, sessions: Sessions) -> None:
    agent = await agents.add("wang.li", PASSWORD, "supervisor")
    token, csrf = await sessions.start(agent)
    assert len(token) >= 43 and len(csrf) >= 43 and token != csrf
    session = await sessions.find(token)
    assert session is not None and session.agent == agent and session.csrf == csrf
    assert await sessions.find(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert await sessions.find("") is None


async def test_only_the_token_hash_is_stored(
    handles: RedisHandles, agents: Agents, sessions: Sessions
) -> None:
    token, _csrf = await sessions.start(await agents.add("wang.li", PASSWORD, "agent"))
    names = [name async for name in handles.commands.scan_iter("*")]
    assert keys.desk_session(hashlib.sha256(token.encode()).hexdigest()) in names
    for name in names:
        assert token not in name
        if await handles.commands.type(name) == "hash":
            values = await handles.commands.hgetall(name)  # type: ignore[misc]
            assert token not in "".join(values.values())


async def test_a_session_ends_after_twelve_idle_hours(
    handles: RedisHandles, agents: Agents, sessions: Sessions, clock: Clock
) -> None:
    token, _csrf = await sessions.start(await agents.add("wang.li", PASSWORD, "agent"))
    key = keys.desk_session(hashlib.sha256(token.encode()).hexdigest())
    assert 0 < await handles.commands.ttl(key) <= 12 * 3600
    clock.advance(12 * 3600 - 1)
    assert await sessions.find(token) is not None  # used: twelve more hours
    clock.advance(12 * 3600 - 1)
    assert await sessions.find(token) is not None
    clock.advance(12 * 3600)
    assert await sessions.find(token) is None
    assert not await handles.commands.exists(key)


async def test_ending_a_session_signs_it_out(agents: Agents, sessions: Sessions) -> None:
    agent = await agents.add("wang.li", PASSWORD, "agent")
    token, _csrf = await sessions.start(agent)
    other, _ = await sessions.start(agent)
    await sessions.end(token)
    assert await sessions.find(token) is None
    assert await sessions.find(other) is not None  # another browser stays signed in
    await sessions.end("never issued")


async def test_a_removed_agent_has_no_session(
    handles: RedisHandles, agents: Agents, sessions: Sessions
) -> None:
    token, _csrf = await sessions.start(await agents.add("wang.li", PASSWORD, "agent"))
    await handles.commands.delete(keys.agent("wang.li"))
    assert await sessions.find(token) is None


# --- Presence -------------------------------------------------------------------------


async def test_presence_follows_status_and_heartbeat(presence: Presence, clock: Clock) -> None:
    assert await presence.status("wang.li") == "offline"
    await presence.set("wang.li", "online")
    await presence.set("li.na", "away")
    assert await presence.status("wang.li") == "online"
    assert await presence.all() == {"li.na": "away", "wang.li": "online"}
    assert await presence.online() == ["wang.li"]
    assert await presence.online(["li.na", "wang.li", "nobody"]) == ["wang.li"]
    assert await presence.online([]) == []
    clock.advance(60)
    await presence.heartbeat("li.na")  # keeps "away"
    clock.advance(31)  # wang.li's desk has been silent 91 s
    assert await presence.status("wang.li") == "offline"
    assert await presence.all() == {"li.na": "away", "wang.li": "offline"}
    assert await presence.online() == []
    await presence.heartbeat("wang.li")
    assert await presence.online() == ["wang.li"]
    await presence.set("wang.li", "offline")
    await presence.heartbeat("wang.li")  # a desk left open does not undo it
    assert await presence.status("wang.li") == "offline"
    with pytest.raises(ValueError, match="status"):
        await presence.set("wang.li", "busy")


async def test_a_first_heartbeat_means_online(presence: Presence) -> None:
    await presence.heartbeat("wang.li")
    assert await presence.online() == ["wang.li"]


async def test_presence_changes_are_published(
    presence: Presence, bus: DeskBus, clock: Clock
) -> None:
    seen: list[DeskEvent] = []
    runner = asyncio.create_task(bus.run())
    try:
        await asyncio.wait_for(bus.connected.wait(), 5)
        with bus.listen(seen.append):
            await presence.set("wang.li", "online")
            await presence.heartbeat("wang.li")  # no change: no event
            clock.advance(91)
            await presence.heartbeat("wang.li")  # back from silence: online again
            await presence.set("wang.li", "away")
            for _ in range(200):
                if len(seen) >= 3:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    assert [(e.kind, e.to, dict(e.data)) for e in seen] == [
        ("presence", "all", {"agent": "wang.li", "status": "online"}),
        ("presence", "all", {"agent": "wang.li", "status": "online"}),
        ("presence", "all", {"agent": "wang.li", "status": "away"}),
    ]


# --- Demo accounts and `shouwen agent add` ----------------------------------------------


async def test_demo_agents_get_fresh_working_passwords(agents: Agents) -> None:
    made = await create_demo_agents(agents)
    assert [(name, role) for name, role, _ in made] == [
        ("demo-agent", "agent"),
        ("demo-supervisor", "supervisor"),
    ]
    for name, role, password in made:
        agent = await agents.check(name, password)
        assert agent is not None and agent.role == role
    again = await create_demo_agents(agents)
    assert {p for _, _, p in again}.isdisjoint(p for _, _, p in made)
    assert await agents.check("demo-agent", again[0][2]) is not None


async def check_password(url: str, name: str, password: str) -> Agent | None:
    handles = connect(url)
    try:
        return await Agents(handles.commands).check(name, password)
    finally:
        await handles.close()


@pytest.fixture
def cli_env(real_redis: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SHOUWEN_REDIS_URL", real_redis)
    monkeypatch.setenv("SHOUWEN_SECRET_KEY", "a test secret shared by every process")
    monkeypatch.delenv("SHOUWEN_AGENT_PASSWORD", raising=False)
    return real_redis


def test_agent_add_takes_the_password_from_the_environment(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOUWEN_AGENT_PASSWORD", PASSWORD)
    argv = [
        "agent",
        "add",
        "wang.li",
        "--role",
        "supervisor",
        "--display",
        "王丽",
        "--team",
        "north",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "wang.li" in out and PASSWORD not in out and "one-time password" not in out
    agent = asyncio.run(check_password(cli_env, "wang.li", PASSWORD))
    assert agent == Agent("wang.li", "王丽", "supervisor", "north")


def test_agent_add_makes_up_a_password_and_prints_it_once(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agent", "add", "li.na", "--role", "agent"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"one-time password: (\S+)", out)
    assert found is not None and len(found.group(1)) >= 16
    assert out.count(found.group(1)) == 1
    agent = asyncio.run(check_password(cli_env, "li.na", found.group(1)))
    assert agent is not None and agent.role == "agent"


def test_agent_add_refuses_a_taken_name_or_a_weak_password(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agent", "add", "li.na", "--role", "agent"]) == 0
    assert main(["agent", "add", "li.na", "--role", "agent"]) == 1
    assert "already" in capsys.readouterr().err
    monkeypatch.setenv("SHOUWEN_AGENT_PASSWORD", "short")
    assert main(["agent", "add", "zhao.yun", "--role", "agent"]) == 1
    assert "characters" in capsys.readouterr().err


def test_agent_add_needs_redis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHOUWEN_REDIS_URL", raising=False)
    assert main(["agent", "add", "li.na", "--role", "agent"]) == 2
    assert "SHOUWEN_REDIS_URL" in capsys.readouterr().err
