"""The conversation store: the same behaviour on the embedded store and on real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.crc import key_slot

from bot.messages import Button, Card, CardField
from bot.store import keys
from bot.store.client import RedisHandles
from bot.store.conversations import ConversationStore, NewEntry
from bot.store.events import EventHub

TTL = 3600


def entry(text: str, role: str = "bot") -> NewEntry:
    return NewEntry(role, text, 1_700_000_000.0)


async def test_new_conversation_claims_empty_state(handles: RedisHandles) -> None:
    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    claim = await store.claim("web:a", "t1", "m1")
    assert claim.status == "ok"
    assert claim.state is None


async def test_save_stores_state_numbers_entries_and_unlocks(handles: RedisHandles) -> None:
    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    await store.claim("web:a", "t1", "m1")
    card = Card("case", "Repair", number="C2611230042", fields=(CardField("Due", "15:00"),))
    saved = await store.save(
        "web:a",
        token="t1",
        state='{"l":"en"}',
        message_id="m1",
        entries=[
            entry("hi", "customer"),
            NewEntry("bot", "hello", 1.0, (Button("A", "x:a"),), card),
        ],
    )
    assert [e.seq for e in saved] == [1, 2]
    state, last = await store.load("web:a")
    assert (state, last) == ('{"l":"en"}', 2)
    read = await store.read("web:a", 0)
    assert read == saved
    assert read[1].card == card
    assert read[1].buttons == (Button("A", "x:a"),)
    # The lock is free again: another turn can claim at once.
    assert (await store.claim("web:a", "t2", "m2")).status == "ok"


async def test_a_held_conversation_is_busy(handles: RedisHandles) -> None:
    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    assert (await store.claim("web:a", "t1", None)).status == "ok"
    assert (await store.claim("web:a", "t2", None)).status == "busy"
    # Another conversation is not held up.
    assert (await store.claim("web:b", "t3", None)).status == "ok"
    await store.release("web:a", "t2")  # not the holder: nothing happens
    assert (await store.claim("web:a", "t4", None)).status == "busy"
    await store.release("web:a", "t1")
    assert (await store.claim("web:a", "t5", None)).status == "ok"


async def test_a_seen_message_id_returns_what_it_produced(handles: RedisHandles) -> None:
    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    await store.claim("web:a", "t1", "m1")
    saved = await store.save(
        "web:a",
        token="t1",
        state="{}",
        message_id="m1",
        entries=[entry("hi", "customer"), entry("hello")],
    )
    await store.claim("web:a", "t2", "m2")
    await store.save("web:a", token="t2", state="{}", message_id="m2", entries=[entry("more")])
    again = await store.claim("web:a", "t3", "m1")
    assert again.status == "dup"
    assert again.entries == saved
    # A duplicate does not take the lock.
    assert (await store.claim("web:a", "t4", "m3")).status == "ok"


async def test_every_key_expires_and_shares_one_hash_slot(handles: RedisHandles) -> None:
    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    await store.claim("web:a", "t1", "m1")
    await store.save("web:a", token="t1", state="{}", message_id="m1", entries=[entry("x")])
    await store.claim("web:a", "t2", None)  # leave the lock held to check its expiry too
    redis = handles.commands
    for key in keys.conversation_keys("web:a"):
        ttl = await redis.pttl(key)
        assert 0 < ttl <= max(TTL, keys.SEEN_TTL_S) * 1000, key
    assert len({key_slot(k.encode()) for k in keys.conversation_keys("web:a")}) == 1


async def test_transcript_is_capped(handles: RedisHandles) -> None:
    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    for batch in range(8):
        await store.append("web:a", [entry(f"{batch}-{i}") for i in range(100)])
    length = await handles.commands.xlen(keys.conversation_log("web:a"))
    assert keys.LOG_MAXLEN <= length < 800
    newest = await store.read("web:a", 795)
    assert [e.seq for e in newest] == [796, 797, 798, 799, 800]


async def test_append_outside_a_turn_numbers_after_the_turns(handles: RedisHandles) -> None:
    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    await store.claim("web:a", "t1", None)
    await store.save(
        "web:a", token="t1", state='{"m":"agent"}', message_id=None, entries=[entry("a")]
    )
    appended = await store.append("web:a", [entry("from an agent", "agent")])
    assert appended[0].seq == 2
    state, last = await store.load("web:a")
    assert state == '{"m":"agent"}'
    assert last == 2


async def test_hub_wakes_watchers_in_another_process(handles: RedisHandles) -> None:
    # Two hubs on one Redis stand for two server processes.
    first, second = EventHub(handles.subscriber), EventHub(handles.subscriber)
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    try:
        await asyncio.wait_for(first.connected.wait(), 5)
        await asyncio.wait_for(second.connected.wait(), 5)
        store = ConversationStore(handles.commands, ttl_seconds=TTL)
        with second.watch("web:a") as watch:
            await store.append("web:a", [entry("news")])
            assert await watch.wait(5)
            assert watch.last_seq == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("conversation", ["web:x{y}", "tg:123", "sms:+8613800138000"])
def test_keys_carry_one_hash_tag(conversation: str) -> None:
    slots = {key_slot(k.encode()) for k in keys.conversation_keys(conversation)}
    assert len(slots) == 1


async def test_a_turn_whose_lock_expired_cannot_overwrite_a_newer_turn(
    handles: RedisHandles,
) -> None:
    from bot.errors import ConversationBusy

    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    await store.claim("web:a", "slow", None)
    await handles.commands.delete(keys.conversation_lock("web:a"))  # the lock expired
    await store.claim("web:a", "fast", None)
    await store.save(
        "web:a", token="fast", state='{"v":"new"}', message_id="m2", entries=[entry("b")]
    )
    with pytest.raises(ConversationBusy):
        await store.save(
            "web:a", token="slow", state='{"v":"stale"}', message_id="m1", entries=[entry("a")]
        )
    state, last = await store.load("web:a")
    assert (state, last) == ('{"v":"new"}', 1)


async def test_a_lost_hash_does_not_reuse_transcript_ids(handles: RedisHandles) -> None:
    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    await store.append("web:a", [entry("one"), entry("two")])
    await handles.commands.delete(keys.conversation("web:a"))  # evicted under memory pressure
    appended = await store.append("web:a", [entry("three")])
    assert appended[0].seq == 3
    assert [e.text for e in await store.read("web:a", 0)] == ["one", "two", "three"]


async def test_seen_ids_are_forgotten_with_the_transcript(handles: RedisHandles) -> None:
    store = ConversationStore(handles.commands, ttl_seconds=TTL)
    for i in range(2 * keys.LOG_MAXLEN + 50):
        await store.claim("web:a", f"t{i}", f"m{i}")
        await store.save(
            "web:a", token=f"t{i}", state="{}", message_id=f"m{i}", entries=[entry("x")]
        )
    remembered = await handles.commands.hlen(keys.conversation_seen("web:a"))
    assert remembered <= 2 * keys.LOG_MAXLEN
    assert (await store.claim("web:a", "t", f"m{2 * keys.LOG_MAXLEN + 49}")).status == "dup"


def test_state_and_transcript_lines_are_compact_json() -> None:
    from bot.state import ConversationState

    line = NewEntry("bot", "请选择", 1.5, (Button("确认", "book:ok"),), client_id="m1")
    assert line.to_json() == '{"r":"bot","t":"请选择","ts":1.5,"b":[["确认","book:ok"]],"i":"m1"}'
    state = ConversationState(flow="book", slots={"pl": "西湖"})
    assert state.to_json() == '{"f":"book","v":{"pl":"西湖"}}'


@pytest.mark.parametrize(
    "line",
    [
        NewEntry("customer", "我要投诉", 1_700_000_000.1234, client_id="m-1"),
        NewEntry(
            "bot", 'say "hi"\n\tback\\slash \x01 😀', 5, (Button("是", "a:b"), Button("否", ""))
        ),
        NewEntry("agent", "您好", 1.0, author='李 "二"'),
        NewEntry("bot", "x", 2.5, card=Card("case", "t", "C1", fields=(CardField("k", "v"),))),
    ],
)
def test_a_line_encoded_by_hand_reads_as_the_json_of_its_dict(line: NewEntry) -> None:
    import json

    expected = json.dumps(line._as_dict(), ensure_ascii=False, separators=(",", ":"))
    assert line.to_json() == expected
    assert json.loads(line.to_json())["t"] == line.text
