"""Leaving a flow mid-way and coming back: diversion, sub-flow calls, resume, cancel, menu."""

from __future__ import annotations

import pytest

from bot.app import build_runtime
from bot.commands import Commands
from bot.dialog import Services, Turn
from bot.engine import Engine
from bot.i18n import Text
from bot.messages import Inbound, TurnResult
from bot.settings import Settings
from bot.state import MAX_SUSPENDED, ConversationState
from bot.store.client import RedisHandles
from flows.consultation import ConsultationFlow


class AskDay:
    """Asks for a day; only "monday" is an answer."""

    name = "ask"
    intents = frozenset({"book_appointment"})

    def menu_entry(self) -> tuple[Text | str, str] | None:
        return ("Booking", "ask:start")

    async def start(self, turn: Turn) -> None:
        turn.state.flow, turn.state.step = self.name, "day"
        turn.state.slots = {"service": "install"}
        turn.say("which day?")

    async def step(self, turn: Turn) -> bool:
        if turn.text != "monday":
            turn.say("which day, please?")
            return False
        turn.say(f"booked {turn.state.slots['service']} on monday")
        turn.finish()
        return True

    async def resume(self, turn: Turn) -> None:
        turn.say("back to it: which day?")

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        if argument != "start":
            return False
        await self.start(turn)
        return True


class Complain:
    """Takes a complaint in one turn."""

    name = "complain"
    intents = frozenset({"file_complaint"})

    def menu_entry(self) -> tuple[Text | str, str] | None:
        return None

    async def start(self, turn: Turn) -> None:
        turn.say("complaint noted")

    async def step(self, turn: Turn) -> bool:
        return True

    async def resume(self, turn: Turn) -> None:
        turn.finish()

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        turn.say(f"complaint button {argument}")
        return argument == "ok"


class Mine:
    """Shows "my cases", calling the gate first when the customer is not verified."""

    name = "mine"
    intents = frozenset({"query_progress"})

    def menu_entry(self) -> tuple[Text | str, str] | None:
        return None

    async def start(self, turn: Turn) -> None:
        turn.state.flow = self.name
        if turn.state.customer is None:
            await turn.call("gate", resume_at="show")
        else:
            await self.resume(turn)

    async def step(self, turn: Turn) -> bool:
        return True

    async def resume(self, turn: Turn) -> None:
        turn.say(f"cases of {turn.state.customer}")
        turn.finish()

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        return False


class Gate:
    """Verifies with the code 1234."""

    name = "gate"
    intents: frozenset[str] = frozenset()

    def menu_entry(self) -> tuple[Text | str, str] | None:
        return None

    async def start(self, turn: Turn) -> None:
        turn.state.flow, turn.state.step = self.name, "code"
        turn.say("code?")

    async def step(self, turn: Turn) -> bool:
        if turn.text != "1234":
            turn.say("wrong code")
            return True
        turn.state.customer = "c1"
        turn.say("verified")
        turn.finish()
        return True

    async def resume(self, turn: Turn) -> None:
        turn.say("code?")

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        return False


@pytest.fixture
def engine(settings: Settings, services: Services, handles: RedisHandles) -> Engine:
    runtime = build_runtime(settings, services=services, redis=handles)
    return Engine(
        store=runtime.store,
        services=services,
        commands=Commands.load(settings.locales_dir),
        flows=[AskDay(), Complain(), Mine(), Gate()],
        fallback=ConsultationFlow(),
        handoff=runtime.desk.handoff,
        domain=runtime.domain,
    )


class Chat:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0
        self.last: TurnResult | None = None

    async def say(self, text: str = "", payload: str | None = None) -> list[str]:
        self.count += 1
        result = await self.engine.handle(
            Inbound("web", "stack", text=text, payload=payload, message_id=f"m{self.count}")
        )
        self.last = result
        return [entry.text for entry in result.replies]

    def payloads(self) -> list[str]:
        assert self.last is not None
        return [b.payload for e in self.last.replies for b in e.buttons]

    async def state(self) -> ConversationState:
        raw, _seq = await self.engine.store.load("web:stack")
        assert raw is not None
        return ConversationState.from_json(raw)


async def test_a_request_for_another_flow_sets_the_running_one_aside(engine: Engine) -> None:
    chat = Chat(engine)
    assert await chat.say(payload="ask:start") == ["which day?"]
    replies = await chat.say("我要投诉，你们的信号太差了")
    assert replies[0] == "complaint noted"  # the re-ask was dropped for the other flow
    assert "cmd:resume" in chat.payloads() and "cmd:drop" in chat.payloads()
    assert await chat.say(payload="cmd:resume") == ["back to it: which day?"]
    assert await chat.say("monday") == ["booked install on monday"]  # slots kept
    assert (await chat.state()).suspended == []


async def test_an_answer_that_is_not_one_is_asked_again(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.say(payload="ask:start")
    assert await chat.say("purple") == ["which day, please?"]
    state = await chat.state()
    assert state.flow == "ask" and state.suspended == []


async def test_the_offer_to_go_back_is_made_once_and_can_be_declined(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.say(payload="ask:start")
    await chat.say("我要投诉，你们的信号太差了")
    replies = await chat.say("我要投诉，客服态度很差")
    assert replies == ["complaint noted"]  # no second offer
    replies = await chat.say(payload="cmd:drop")
    assert (await chat.state()).suspended == []
    assert await chat.say(payload="cmd:resume") != ["back to it: which day?"]


async def test_a_called_flow_hands_back_by_itself(engine: Engine) -> None:
    chat = Chat(engine)
    assert await chat.say("我想查一下我的工单进度") == ["code?"]
    assert await chat.say("0000") == ["wrong code"]
    assert await chat.say("1234") == ["verified", "cases of c1"]
    state = await chat.state()
    assert state.flow is None and state.suspended == [] and state.customer == "c1"


async def test_cancel_in_a_called_flow_drops_its_caller_too(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.say("我想查一下我的工单进度")
    replies = await chat.say("取消")
    assert len(replies) == 1 and "cmd:resume" not in chat.payloads()
    state = await chat.state()
    assert state.flow is None and state.suspended == []


async def test_a_button_of_another_flow_mid_way_waits_the_running_one(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.say(payload="ask:start")
    replies = await chat.say(payload="complain:ok")
    assert replies[0] == "complaint button ok" and "cmd:resume" in chat.payloads()
    replies = await chat.say(payload="complain:stale")
    assert (await chat.state()).flow is None
    await chat.say(payload="cmd:resume")
    assert (await chat.state()).flow == "ask"
    # An unknown button of another flow leaves the running one where it was.
    await chat.say(payload="complain:stale")
    state = await chat.state()
    assert state.flow == "ask" and state.suspended == []


async def test_menu_forgets_what_was_set_aside(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.say(payload="ask:start")
    await chat.say("我要投诉，你们的信号太差了")
    await chat.say("菜单")
    state = await chat.state()
    assert state.flow is None and state.suspended == []


def test_only_a_few_flows_are_kept_aside() -> None:
    state = ConversationState()
    for number in range(MAX_SUSPENDED + 2):
        state.flow, state.step = f"flow{number}", "s"
        state.set_aside(auto=False)
    assert [frame["f"] for frame in state.suspended] == [
        f"flow{n}" for n in range(2, MAX_SUSPENDED + 2)
    ]
    state.take_up()
    assert state.flow == f"flow{MAX_SUSPENDED + 1}" and len(state.suspended) == MAX_SUSPENDED - 1


async def test_a_mistyped_number_is_asked_again_not_taken_for_a_request(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.say(payload="ask:start")
    # The classifier reads digits with 进度-like shapes as query_progress; still a value.
    assert await chat.say("138001380 进度") == ["which day, please?"]
    assert await chat.say("138OO138OOO") == ["which day, please?"]
    state = await chat.state()
    assert state.flow == "ask" and state.locale == "zh"
