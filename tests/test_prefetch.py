"""Reads a flow starts before the claim: they leave with it, and a miss still answers right.

The booking reads capacity with the claim for the area button (the place is in the payload)
and for a free-text day and time (the place as this process last saved the conversation).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
import redis as sync_redis

from bot.app import Runtime, build_runtime
from bot.dialog import Early, Services, Turn
from bot.messages import Inbound, TurnResult
from bot.services.appointments import AppointmentDraft, Window
from bot.services.capacity import TAKEN, TAKEN_ALL
from bot.settings import Settings
from bot.state import ConversationState
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.client import RedisHandles, connect
from tests.conftest import MovableClock, RoundTrips

# Monday 2026-11-23 10:00 (tests/conftest.py): tomorrow is the 24th.
TOMORROW = "20261124"
DAY = date(2026, 11, 24)
ASK = "我想预约宽带安装"
WHEN = "明天上午10点"


def say(chat: str, text: str = "", *, payload: str | None = None) -> Inbound:
    return Inbound("web", chat, text=text, payload=payload)


def runtime_on(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> Runtime:
    return build_runtime(settings, services=services, redis=handles, clock=clock)


@pytest.fixture
async def real(real_redis: str) -> AsyncIterator[RedisHandles]:
    handles = connect(real_redis)
    yield handles
    await handles.close()


async def state_of(runtime: Runtime, chat: str) -> ConversationState:
    raw, _seq = await runtime.store.load(f"web:{chat}")
    assert raw is not None
    return ConversationState.from_json(raw)


def offered(result: TurnResult) -> list[str]:
    return [b.payload for r in result.replies for b in r.buttons if b.payload.startswith("book:")]


async def test_the_area_button_and_a_day_cost_two_round_trips_each(
    settings: Settings,
    services: Services,
    real: RedisHandles,
    clock: MovableClock,
    round_trips: RoundTrips,
) -> None:
    runtime = runtime_on(settings, services, real, clock)
    engine = runtime.engine
    for step in (say("warm", ASK), say("warm", payload="book:place:xihu"), say("warm", WHEN)):
        await engine.handle(step)  # connections and scripts ready
    await engine.handle(say("c1", ASK))

    round_trips.count = 0
    area = await engine.handle(say("c1", payload="book:place:xihu"))
    assert round_trips.count == 2
    nearest = await runtime.domain.appointments.nearest_free(
        "broadband_install", "xihu", after=clock(), limit=4
    )
    assert offered(area) == [f"book:win:{slot.window.id}" for slot in nearest]

    round_trips.count = 0
    await engine.handle(say("c1", WHEN))
    assert round_trips.count == 2
    state = await state_of(runtime, "c1")
    assert state.step == "phone"
    assert state.slots["w"] == f"xihu:{TOMORROW}:0900"


async def test_another_process_misses_the_hint_pays_a_trip_and_answers_the_same(
    settings: Settings,
    services: Services,
    real: RedisHandles,
    clock: MovableClock,
    round_trips: RoundTrips,
) -> None:
    here = runtime_on(settings, services, real, clock)
    there = runtime_on(settings, services, real, clock)  # another process, same Redis
    for chat in ("c1", "c2"):
        await here.engine.handle(say(chat, ASK))
        await here.engine.handle(say(chat, payload="book:place:xihu"))
    round_trips.count = 0
    hit = await here.engine.handle(say("c1", WHEN))
    assert round_trips.count == 2
    round_trips.count = 0
    miss = await there.engine.handle(say("c2", WHEN))
    assert round_trips.count == 3  # claim, the day's places, save
    assert [r.text for r in miss.replies] == [r.text for r in hit.replies]
    assert (await state_of(there, "c2")).slots == (await state_of(here, "c1")).slots


async def test_a_forgotten_conversation_is_read_again(
    settings: Settings,
    services: Services,
    real: RedisHandles,
    clock: MovableClock,
    round_trips: RoundTrips,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.engine.LAST_STATES_KEPT", 1)
    runtime = runtime_on(settings, services, real, clock)
    for chat in ("c1", "c2"):  # c2's turns push c1 out of the engine's memory
        await runtime.engine.handle(say(chat, ASK))
        await runtime.engine.handle(say(chat, payload="book:place:xihu"))
    round_trips.count = 0
    await runtime.engine.handle(say("c2", WHEN))
    assert round_trips.count == 2
    round_trips.count = 0
    await runtime.engine.handle(say("c1", WHEN))
    assert round_trips.count == 3
    for chat in ("c1", "c2"):
        assert (await state_of(runtime, chat)).slots["w"] == f"xihu:{TOMORROW}:0900"


async def test_a_stale_hint_reads_the_place_the_conversation_has_now(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> None:
    here = runtime_on(settings, services, handles, clock)
    there = runtime_on(settings, services, handles, clock)
    await here.engine.handle(say("c1", ASK))
    await here.engine.handle(say("c1", payload="book:place:xihu"))  # here remembers xihu
    await there.engine.handle(say("c1", payload="book:place:binjiang"))
    await here.engine.handle(say("c1", WHEN))
    assert (await state_of(here, "c1")).slots["w"] == f"binjiang:{TOMORROW}:0900"


async def test_a_full_window_read_ahead_is_refused_as_without_it(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> None:
    here = runtime_on(settings, services, handles, clock)
    there = runtime_on(settings, services, handles, clock)
    appointments = here.domain.appointments
    for n in range(3):  # the 09:00-11:00 window of tomorrow takes 3
        await appointments.book(
            AppointmentDraft(
                service="onsite_repair",
                window=f"xihu:{TOMORROW}:0900",
                customer=f"cust-{n}",
                conversation=None,
                locale="zh",
                contact="13800138000",
            )
        )
    for runtime, chat in ((here, "c1"), (here, "c2")):
        await runtime.engine.handle(say(chat, ASK))
        await runtime.engine.handle(say(chat, payload="book:place:xihu"))
    hit = await here.engine.handle(say("c1", WHEN))
    miss = await there.engine.handle(say("c2", WHEN))
    assert [r.text for r in hit.replies] == [r.text for r in miss.replies]
    assert offered(hit) == offered(miss)
    assert f"book:win:xihu:{TOMORROW}:0900" not in offered(hit)
    assert "w" not in (await state_of(here, "c1")).slots


async def test_read_ahead_counts_windows_not_single_bookings(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> None:
    runtime = runtime_on(settings, services, handles, clock)
    appointments = runtime.domain.appointments
    await appointments.book(
        AppointmentDraft(
            service="onsite_repair",
            window=f"xihu:{TOMORROW}:1100",
            customer="cust-a",
            conversation=None,
            locale="zh",
            contact="13800138000",
        )
    )
    taken = await appointments.read_ahead("xihu", [DAY]).result()
    assert taken is not None
    assert dict(taken.counts) == {f"xihu:{TOMORROW}:1100": 1}
    assert taken.of(window(runtime, f"xihu:{TOMORROW}:1100")) == 1
    assert taken.of(window(runtime, f"xihu:{TOMORROW}:0900")) == 0  # read: nothing booked
    assert taken.of(window(runtime, "xihu:20261125:0900")) is None  # not read
    fresh = await appointments.availability("onsite_repair", "xihu", DAY)
    assert await appointments.availability("onsite_repair", "xihu", DAY, taken) == fresh
    assert [slot.free for slot in fresh] == [3, 2, 3, 3]


async def test_nothing_read_ahead_is_read_again(
    settings: Settings,
    services: Services,
    handles: RedisHandles,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = runtime_on(settings, services, handles, clock)
    appointments = runtime.domain.appointments
    taken = await appointments.read_ahead_near("xihu", clock()).result()
    reads: list[str] = []
    submit = ScriptBatcher.submit

    def recording(self: ScriptBatcher, script: Any, keys_: Any, args: Any) -> Any:
        if script.script in (TAKEN, TAKEN_ALL):
            reads.extend(keys_)
        return submit(self, script, keys_, args)

    monkeypatch.setattr(ScriptBatcher, "submit", recording)
    known = await appointments.nearest_free("onsite_repair", "xihu", clock(), 4, known=taken)
    assert reads == []
    assert known == await appointments.nearest_free("onsite_repair", "xihu", clock(), 4)
    assert reads  # without it, the same windows are read


async def test_a_read_ahead_that_failed_is_a_miss(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> None:
    runtime = runtime_on(settings, services, handles, clock)
    await handles.commands.set(keys.window_bookings("xihu", TOMORROW), "not a hash")
    ahead = runtime.domain.appointments.read_ahead("xihu", [DAY])
    assert await ahead.result() is None


async def test_a_turn_takes_the_early_reading_only_in_its_own_language(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> None:
    runtime = runtime_on(settings, services, handles, clock)
    english = services.nlu.parse("tomorrow 10am", "en")
    early = Early(parse=english, locale="en")

    def turn(locale: str) -> Turn:
        state = ConversationState(locale=locale)
        inbound = say("c1", "tomorrow 10am")
        return Turn(
            inbound, inbound.text, state, services, runtime.domain, runtime.engine, early=early
        )

    assert turn("en").parse() is english
    assert turn("zh").parse() is not english
    assert turn("zh").parse().language == "zh"


async def test_calls_submitted_together_leave_in_one_round_trip(
    real: RedisHandles, round_trips: RoundTrips
) -> None:
    batcher = ScriptBatcher(real.commands)
    script = real.commands.register_script("return ARGV[1]")
    assert await batcher.run(script, ["k"], ["0"]) == "0"  # loaded, connected
    round_trips.count = 0
    futures = [batcher.submit(script, [f"k{i}"], [str(i)]) for i in range(5)]
    assert await asyncio.gather(*futures) == [str(i) for i in range(5)]
    assert round_trips.count == 1


async def test_a_connection_the_server_closed_is_replaced(real_redis: str) -> None:
    handles = connect(real_redis)
    batcher = ScriptBatcher(handles.commands)
    script = handles.commands.register_script("return ARGV[1]")
    assert await batcher.run(script, ["k"], ["a"]) == "a"  # a pooled connection now
    killer = sync_redis.Redis.from_url(real_redis)
    assert killer.client_kill_filter(_type="normal", skipme=True) >= 1  # type: ignore[no-untyped-call]
    killer.close()
    assert await batcher.run(script, ["k"], ["b"]) == "b"
    await handles.close()


def window(runtime: Runtime, window_id: str) -> Window:
    found = runtime.domain.appointments.catalog.window(window_id)
    assert found is not None
    return found
