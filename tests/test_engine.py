"""The turn: round trips, serialisation, de-duplication, commands, languages, bad input."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import Runtime, build_runtime
from bot.dialog import Services, Turn
from bot.engine import Engine, normalise
from bot.errors import StoreUnavailable, UnknownConversation
from bot.messages import Inbound
from bot.settings import Settings
from bot.state import ConversationState
from bot.store.client import RedisHandles, connect
from flows.consultation import ConsultationFlow
from flows.smalltalk import SmalltalkFlow
from tests.conftest import MovableClock, RoundTrips, free_port


@pytest.fixture
async def runtime(
    settings: Settings, services: Services, handles: RedisHandles, clock: MovableClock
) -> Runtime:
    # Monday 10:00 in Shanghai: agents are at work (a handoff queues rather than offers a
    # call back).
    return build_runtime(settings, services=services, redis=handles, clock=clock)


def say(
    chat: str,
    text: str = "",
    *,
    payload: str | None = None,
    mid: str | None = None,
    locale: str | None = None,
) -> Inbound:
    return Inbound("web", chat, text=text, payload=payload, locale_hint=locale, message_id=mid)


async def state_of(runtime: Runtime, chat: str) -> ConversationState:
    raw, _seq = await runtime.store.load(f"web:{chat}")
    assert raw is not None
    return ConversationState.from_json(raw)


async def test_an_ordinary_turn_costs_two_round_trips(
    settings: Settings, services: Services, real_redis: str, round_trips: RoundTrips
) -> None:
    handles = connect(real_redis)
    runtime = build_runtime(settings, services=services, redis=handles)
    engine = runtime.engine
    await engine.handle(say("c1", "你好", mid="m0"))  # warms the connection and script cache
    for text in ("宽带太慢了怎么办", "国际漫游怎么开通", "谢谢"):
        round_trips.count = 0
        result = await engine.handle(say("c1", text, mid=text))
        assert result.replies
        assert round_trips.count == 2, text
    round_trips.count = 0
    await engine.handle(say("c1", "谢谢", mid="谢谢"))  # a duplicate: one round trip
    assert round_trips.count == 1
    await handles.close()


async def test_answers_a_question_from_the_faq_with_follow_ups(runtime: Runtime) -> None:
    result = await runtime.engine.handle(say("c1", "国际漫游怎么开通"))
    assert result.locale == "zh"
    reply = result.replies[0]
    assert "漫游" in reply.text
    payloads = [b.payload for b in reply.buttons]
    assert any(p.startswith("consult:faq:") for p in payloads)
    assert "cmd:human" in payloads
    follow_up = next(b for b in reply.buttons if b.payload.startswith("consult:faq:"))
    again = await runtime.engine.handle(say("c1", follow_up.title, payload=follow_up.payload))
    assert again.replies[0].text != reply.text


async def test_turns_of_one_conversation_are_serialised(runtime: Runtime) -> None:
    texts = [f"第{i}个问题, 宽带怎么办理" for i in range(20)]
    results = await asyncio.gather(*(runtime.engine.handle(say("c1", t, mid=t)) for t in texts))
    transcript = await runtime.store.read("web:c1", 0)
    assert [e.seq for e in transcript] == list(range(1, len(transcript) + 1))
    customer = [e.text for e in transcript if e.role == "customer"]
    assert sorted(customer) == sorted(texts)
    # Each turn's entries are contiguous: no other turn interleaved with it.
    for result in results:
        assert result.echo is not None
        seqs = [result.echo.seq] + [r.seq for r in result.replies]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_two_processes_serialise_turns_of_one_conversation(
    settings: Settings, services: Services, real_redis: str
) -> None:
    # Two engines with their own connections stand for two server processes.
    first, second = connect(real_redis), connect(real_redis)
    engines = [build_runtime(settings, services=services, redis=h).engine for h in (first, second)]
    await engines[0].handle(say("c1", "你好", mid="start"))
    jobs = [
        engines[i % 2].handle(say("c1", f"misunderstood {i} ???", mid=f"m{i}")) for i in range(16)
    ]
    results = await asyncio.gather(*jobs)
    transcript = await engines[0].store.read("web:c1", 0)
    assert [e.seq for e in transcript] == list(range(1, len(transcript) + 1))
    assert len([e for e in transcript if e.role == "customer"]) == 17
    assert all(r.echo is not None for r in results)
    await first.close()
    await second.close()


async def test_a_busy_conversation_does_not_hold_up_another(runtime: Runtime) -> None:
    claim = await runtime.store.claim("web:held", "someone-else", None)
    assert claim.status == "ok"
    result = await asyncio.wait_for(runtime.engine.handle(say("free", "你好")), 5)
    assert result.replies
    await runtime.store.release("web:held", "someone-else")


async def test_a_repeated_message_id_is_answered_once(runtime: Runtime) -> None:
    first = await runtime.engine.handle(say("c1", "宽带太慢", mid="abc"))
    again = await runtime.engine.handle(say("c1", "宽带太慢", mid="abc"))
    assert again.duplicate and not first.duplicate
    assert [r.text for r in again.replies] == [r.text for r in first.replies]
    assert [r.seq for r in again.replies] == [r.seq for r in first.replies]
    transcript = await runtime.store.read("web:c1", 0)
    assert len(transcript) == 1 + len(first.replies)


async def test_concurrent_duplicates_produce_one_turn(runtime: Runtime) -> None:
    results = await asyncio.gather(
        *(runtime.engine.handle(say("c1", "宽带太慢", mid="same")) for _ in range(5))
    )
    assert sum(not r.duplicate for r in results) == 1
    transcript = await runtime.store.read("web:c1", 0)
    assert len([e for e in transcript if e.role == "customer"]) == 1


async def test_unknown_conversation_is_refused_when_not_creating(runtime: Runtime) -> None:
    with pytest.raises(UnknownConversation):
        await runtime.engine.handle(say("nobody", "你好"), create=False)


async def test_menu_cancel_and_stop_work_anywhere(runtime: Runtime) -> None:
    engine = runtime.engine
    menu = await engine.handle(say("c1", "菜单"))
    payloads = [b.payload for b in menu.replies[0].buttons]
    assert {"consult:topics", "cmd:human", "cmd:language"} <= set(payloads)
    nothing = await engine.handle(say("c1", "取消"))
    assert "没有需要取消" in nothing.replies[0].text
    stopped = await engine.handle(say("c1", "TD"))
    assert "不再收到" in stopped.replies[0].text
    assert (await state_of(runtime, "c1")).notify is False
    await engine.handle(say("c1", "menu"))
    assert (await state_of(runtime, "c1")).notify is True


async def test_human_queues_for_an_agent_in_hours_and_offers_a_call_back_after(
    runtime: Runtime, clock: MovableClock
) -> None:
    result = await runtime.engine.handle(say("c1", "转人工"))
    assert result.mode == "queued"
    assert "第 1 位" in result.replies[0].text
    clock.advance(11 * 3600)  # 21:00: the agents have gone home
    english = await runtime.engine.handle(say("c2", "human", locale="en"))
    assert english.mode == "bot"
    assert "call you back" in english.replies[0].text
    assert "handoff:callback" in [b.payload for b in english.replies[0].buttons]


async def test_language_follows_words_hints_and_choices(runtime: Runtime) -> None:
    engine = runtime.engine
    hinted = await engine.handle(say("c1", "5G", locale="en-US,en;q=0.9"))
    assert hinted.locale == "en"
    spoken = await engine.handle(say("c2", "How do I turn on international roaming?"))
    assert spoken.locale == "en"
    assert "roaming" in spoken.replies[0].text.lower()
    switched = await engine.handle(say("c2", "怎么查话费"))
    assert switched.locale == "zh"
    chosen = await engine.handle(say("c2", "lang", payload="cmd:language:en"))
    assert chosen.locale == "en"
    assert chosen.replies[0].text == "I will speak English from now on."
    pinned = await engine.handle(say("c2", "怎么查话费"))
    assert pinned.locale == "en"  # a chosen language is kept whatever the customer types
    asked = await engine.handle(say("c2", "language"))
    assert {b.payload for b in asked.replies[0].buttons} == {"cmd:language:zh", "cmd:language:en"}


async def test_two_misunderstood_turns_in_a_row_offer_a_human(runtime: Runtime) -> None:
    engine = runtime.engine
    first = await engine.handle(say("c1", "asdkjh qwpeoiu zxcmnb"))
    assert "cmd:human" not in [b.payload for b in first.replies[-1].buttons]
    second = await engine.handle(say("c1", "qwpoe zmxnc alskdj"))
    assert "cmd:human" in [b.payload for b in second.replies[-1].buttons]
    assert (await state_of(runtime, "c1")).misses == 2


async def test_an_understood_turn_resets_the_misunderstanding_count(runtime: Runtime) -> None:
    engine = runtime.engine
    await engine.handle(say("c1", "asdkjh qwpeoiu zxcmnb"))
    await engine.handle(say("c1", "国际漫游怎么开通"))
    third = await engine.handle(say("c1", "qwpoe zmxnc alskdj"))
    assert "cmd:human" not in [b.payload for b in third.replies[-1].buttons]


async def test_an_unknown_button_gets_the_menu(runtime: Runtime) -> None:
    result = await runtime.engine.handle(say("c1", "", payload="nonsense:42"))
    assert "失效" in result.replies[0].text
    assert result.replies[0].buttons


@pytest.mark.parametrize(
    "text",
    ["😀😀😀", "<script>alert(1)</script>", "\x00\x07\x1b[31m", "宽带" * 5000, "   ", "🙏" * 3000],
)
async def test_hostile_or_odd_text_gets_a_polite_reply(runtime: Runtime, text: str) -> None:
    result = await runtime.engine.handle(say("c1", text))
    assert result.replies and all(r.text for r in result.replies)
    assert result.echo is not None
    assert len(result.echo.text) <= runtime.engine.services.settings.max_text_chars
    assert "\x00" not in result.echo.text and "\x1b" not in result.echo.text


def test_normalise_folds_width_strips_controls_and_caps() -> None:
    assert normalise("ＡＢＣ１２３\x00\x1f  ", 100) == "ABC123"
    assert normalise("a\n\n\n\n\nb", 100) == "a\n\nb"
    assert normalise("x" * 50, 10) == "x" * 10
    assert normalise("\ud800bad", 10) == "bad"


async def test_redis_down_is_a_store_error_not_a_crash(
    settings: Settings, services: Services
) -> None:
    handles = connect(f"redis://127.0.0.1:{free_port()}/0")
    engine: Engine = build_runtime(settings, services=services, redis=handles).engine
    with pytest.raises(StoreUnavailable):
        await engine.handle(say("c1", "你好"))
    await handles.close()


async def test_open_greets_a_new_conversation(runtime: Runtime) -> None:
    opened = await runtime.engine.open(Inbound("web", "new1", locale_hint="en"))
    assert opened.locale == "en"
    assert "StarLink" in opened.replies[0].text
    assert opened.replies[0].seq == 1


async def test_a_cancelled_turn_frees_its_conversation(runtime: Runtime) -> None:
    engine = runtime.engine
    started = asyncio.Event()
    original = runtime.engine.services.nlu.parse

    def slow_parse(*args: object, **kwargs: object) -> object:
        started.set()
        return original(*args, **kwargs)  # type: ignore[arg-type]

    runtime.engine.services.nlu.parse = slow_parse  # type: ignore[method-assign]
    try:
        task = asyncio.create_task(engine.handle(say("c1", "宽带太慢")))
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0)
    finally:
        runtime.engine.services.nlu.parse = original  # type: ignore[method-assign]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    claim = await runtime.store.claim("web:c1", "next", None)
    assert claim.status == "ok"  # not held for the lock's full 10 s


async def test_concurrent_turns_share_round_trips(
    settings: Settings, services: Services, real_redis: str, round_trips: RoundTrips
) -> None:
    handles = connect(real_redis)
    engine = build_runtime(settings, services=services, redis=handles).engine
    await engine.handle(say("warm", "你好"))
    round_trips.count = 0
    results = await asyncio.gather(*(engine.handle(say(f"c{i}", "宽带太慢了")) for i in range(50)))
    assert all(r.replies for r in results)
    # Each turn is still a claim and a save, but calls made in the same loop iteration go
    # out together: far fewer than two round trips per turn under load.
    assert round_trips.count < 20
    await handles.close()


async def test_scripts_come_back_after_redis_forgets_them(
    settings: Settings, services: Services, real_redis: str
) -> None:
    handles = connect(real_redis)
    engine = build_runtime(settings, services=services, redis=handles).engine
    await engine.handle(say("c1", "你好"))
    await handles.commands.script_flush()  # as after a Redis restart
    results = await asyncio.gather(*(engine.handle(say(f"c{i}", "谢谢")) for i in range(5)))
    assert all(r.replies for r in results)
    await handles.close()


class AskNameFlow:
    """A two-step flow for testing the engine's routing (not part of the product)."""

    name = "askname"
    intents = frozenset({"book_appointment"})

    def menu_entry(self) -> None:
        return None

    async def start(self, turn: Turn) -> None:
        turn.state.flow, turn.state.step = self.name, "name"
        turn.say("name?")

    async def step(self, turn: Turn) -> bool:
        turn.state.slots["name"] = turn.text
        turn.state.leave_flow()
        turn.say(f"thanks {turn.text}")
        return True

    async def resume(self, turn: Turn) -> None:
        turn.say("name?")

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        return False


def engine_with_a_flow(runtime: Runtime) -> Engine:
    return Engine(
        store=runtime.store,
        services=runtime.engine.services,
        commands=runtime.engine.commands,
        flows=[SmalltalkFlow(), AskNameFlow()],
        fallback=ConsultationFlow(),
        handoff=runtime.desk.handoff,
        domain=runtime.domain,
    )


async def test_a_running_flow_gets_the_next_message(runtime: Runtime) -> None:
    engine = engine_with_a_flow(runtime)
    started = await engine.handle(say("c1", "我想预约明天装宽带"))
    assert started.replies[0].text == "name?"
    assert (await state_of(runtime, "c1")).flow == "askname"
    # Free text that the NLU would read as something else still goes to the flow.
    answered = await engine.handle(say("c1", "国际漫游怎么开通"))
    assert answered.replies[0].text == "thanks 国际漫游怎么开通"
    assert (await state_of(runtime, "c1")).flow is None


@pytest.mark.parametrize(("word", "answer"), [("取消", "已取消"), ("菜单", "请问有什么可以帮您")])
async def test_cancel_and_menu_leave_a_running_flow(
    runtime: Runtime, word: str, answer: str
) -> None:
    engine = engine_with_a_flow(runtime)
    await engine.handle(say("c1", "我想预约明天装宽带"))
    left = await engine.handle(say("c1", word))
    assert answer in left.replies[0].text
    state = await state_of(runtime, "c1")
    assert state.flow is None and state.slots == {}


async def test_an_unknown_button_of_a_known_flow_gets_the_menu(runtime: Runtime) -> None:
    result = await runtime.engine.handle(say("c1", "", payload="consult:faq:no_such_entry"))
    assert "失效" in result.replies[0].text
    assert "cmd:human" in [b.payload for b in result.replies[0].buttons]


async def test_asking_for_a_person_in_other_words_is_the_human_command(runtime: Runtime) -> None:
    text = "我想跟一个活人说话，机器人听不懂"
    assert runtime.engine.commands.detect(text, None) is None  # no command word: the NLU's
    result = await runtime.engine.handle(say("c1", text))
    assert result.mode == "queued"


async def test_local_locks_are_dropped_when_nobody_holds_or_waits(runtime: Runtime) -> None:
    engine = runtime.engine
    first = asyncio.create_task(engine.handle(say("busy", "你好")))
    second = asyncio.create_task(engine.handle(say("busy", "谢谢")))
    waiting = asyncio.create_task(engine.handle(say("busy", "再见")))
    await asyncio.sleep(0)
    assert engine._locks._locks["web:busy"][1] == 3
    waiting.cancel()  # gives up while waiting for the lock
    await asyncio.gather(first, second)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert engine._locks._locks == {}
