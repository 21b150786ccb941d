"""Handoffs to people through the web chat and the desk: the queue, the silent bot, hand
back and resolve, timeouts, first-contact ownership, exactly one accept, two processes.

The server they talk to is tests/desk_world.py's `world` (real Redis) or `either` (the
embedded store too).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.dialog import Services
from bot.handoff import IDLE_HELD_S, IDLE_QUEUED_S, AgentRef
from bot.services.desk_bus import to_agent
from bot.services.handoff import RESERVED_S, HandoffRecord, Handoffs, Taken
from bot.services.sla import job_id
from bot.settings import Settings
from bot.store.client import connect
from tests.conftest import MovableClock
from tests.desk_world import (
    PASSWORD,
    World,
    alert,
    last_seq,
    receive_until,
    running_world,
    texts_of,
    verify,
)
from tests.flow_chat import CASE_NUMBER, PHONE

# --- Asking for a person --------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "locale", "expected"),
    [
        ("转人工", "zh", ("第 1 位", "约 4 分钟")),
        ("人工", "zh", ("第 1 位", "约 4 分钟")),
        ("agent", "en", ("number 1 in the queue", "about 4 minutes")),
        ("human", "en", ("number 1 in the queue", "about 4 minutes")),
    ],
)
async def test_asking_for_a_person_queues_with_position_and_wait(
    either: World, words: str, locale: str, expected: tuple[str, str]
) -> None:
    chat = either.chat(locale)
    await chat.say("你好" if locale == "zh" else "hello")
    answer = await chat.say(words)
    assert all(part in answer for part in expected), answer
    assert "handoff:leave" in [b["payload"] for b in chat.buttons()]
    assert (await either.state(chat)).mode == "queued"
    record = await either.record(chat)
    assert record.state == "queued" and record.case in answer
    assert record.preview == words  # the desk's queue shows what the customer asked with
    assert [r.conversation for r in await either.handoff.handoffs.queue()] == [chat.key]
    case = await either.domain.cases.get(record.case or "")
    assert case is not None and case.state == "received" and case.conversation == chat.key


async def test_the_wait_counts_the_agents_online(world: World) -> None:
    for name in ("wang", "li"):
        await world.add_agent(name)
    answers = []
    for _customer in range(3):
        world.clock.advance(1)
        answers.append(await world.chat("en").say("human"))
    # Two agents online: numbers 1 and 2 wait one round of 4 minutes, number 3 two.
    assert "number 2 in the queue; the wait is about 4 minutes" in answers[1]
    assert "number 3 in the queue; the wait is about 8 minutes" in answers[2]


async def test_two_misunderstood_turns_offer_a_person_who_is_queued_when_pressed(
    either: World,
) -> None:
    chat = either.chat("en")
    await chat.say("asdkjh qwpeoiu zxcmnb")
    assert "cmd:human" not in [b["payload"] for b in chat.buttons()]
    await chat.say("qwpoe zmxnc alskdj")
    answer = await chat.press_button("cmd:human")
    assert "number 1 in the queue" in answer
    assert (await either.state(chat)).mode == "queued"
    assert (await either.record(chat)).state == "queued"


async def test_the_queue_tells_each_customer_their_place_as_it_moves(either: World) -> None:
    wang = await either.add_agent("wang", display="王丽")
    first, second = either.chat("zh"), either.chat("en")
    await either.queue_up(first)
    either.clock.advance(1)
    answer = await second.say("human")
    assert "number 2 in the queue; the wait is about 8 minutes" in answer
    # Writing while queued is answered with the place, not by the bot's flows; the desks
    # are told to show the new preview.
    await asyncio.sleep(0.3)  # the queue events of asking have come through
    either.bus_events.events.clear()
    again = await second.say("still there?")
    assert "You are number 2 in the queue" in again
    assert (await either.state(second)).mode == "queued"
    await either.bus_events.wait(lambda e: e.kind == "queue")
    queue = await wang.ok("GET", "/desk/api/queue")
    assert [(e["conversation"], e["position"]) for e in queue["entries"]] == [
        (first.key, 1),
        (second.key, 2),
    ]
    await wang.accept(first.key)
    assert any(
        "you are now number 1; the wait is about 4 minutes" in text
        for _role, text in await texts_of(second)
    )
    assert any("王丽" in text for _role, text in await texts_of(first))
    queue = await wang.ok("GET", "/desk/api/queue")
    assert [(e["conversation"], e["position"]) for e in queue["entries"]] == [(second.key, 1)]


# --- Outside service hours: a call back -----------------------------------------------


@pytest.mark.parametrize(
    ("locale", "words", "due"), [("zh", "转人工", "11月24日"), ("en", "human", "Nov 24, 2026")]
)
async def test_outside_hours_a_call_back_case_is_offered_and_opened(
    either: World, locale: str, words: str, due: str
) -> None:
    either.clock.advance(11 * 3600)  # Monday 21:00: the agents have gone home
    chat = either.chat(locale)
    answer = await chat.say(words)
    assert "08:00" in answer and "20:00" in answer
    assert (await either.state(chat)).mode == "bot"
    assert await either.handoff.handoffs.get(chat.key) is None
    assert await either.handoff.handoffs.queue() == []
    asked = await chat.press_button("handoff:callback")
    assert "13800138000" in asked  # the example of a mobile number
    done = await chat.say(PHONE)
    number = CASE_NUMBER.findall(done)[0]
    assert PHONE in done and due in done, done
    case = await either.domain.cases.get(number)
    assert case is not None and case.kind == "callback" and case.contact == PHONE
    assert case.due["response"] == either.clock.now + 24 * 3600
    # The promise is kept by the SLA clock like any case's.
    warn = await either.domain.scheduler.when(job_id(number, "response", "warn"))
    assert warn == either.clock.now + 0.8 * 24 * 3600


async def test_a_verified_customer_is_called_back_on_their_verified_phone(
    either: World,
) -> None:
    chat = either.chat("en")
    await verify(either, chat)
    either.clock.advance(11 * 3600)
    await chat.say("human")
    done = await chat.press_button("handoff:callback")
    number = CASE_NUMBER.findall(done)[0]
    assert PHONE in done and "Which mobile number" not in done
    case = await either.domain.cases.get(number)
    assert case is not None and case.kind == "callback"
    assert case.customer == (await either.state(chat)).customer


# --- An agent holds the conversation ----------------------------------------------------


async def test_while_an_agent_holds_the_conversation_the_bot_is_silent(world: World) -> None:
    wang = await world.add_agent("wang", display="王丽")
    chat = world.chat("zh")
    await world.queue_up(chat)
    await wang.accept(chat.key)
    assert (await world.state(chat)).mode == "agent"
    before = await last_seq(chat)
    answer = await chat.say("宽带太慢了怎么办")  # a question the bot would answer itself
    assert answer == "" and chat.replies == []
    assert await texts_of(chat, before) == [("customer", "宽带太慢了怎么办")]
    # The holder's desk is told; the agent's words reach the customer's feed.
    await world.bus_events.wait(
        lambda e: (
            e.kind == "entry" and e.to == to_agent("wang") and e.data["conversation"] == chat.key
        )
    )
    sent = await wang.ok(
        "POST", f"/desk/api/conversations/{chat.key}/messages", {"text": "您好，我来帮您看看"}
    )
    assert sent["entry"]["role"] == "agent"
    events = await chat.events(before)
    agent_lines = [e for e in events if e["role"] == "agent"]
    assert [(e["text"], e["author"]) for e in agent_lines] == [("您好，我来帮您看看", "王丽")]
    assert all(e["role"] != "bot" for e in events)


async def test_hand_back_lets_the_bot_answer_again(world: World) -> None:
    wang = await world.add_agent("wang", display="王丽")
    chat = world.chat("zh")
    await world.queue_up(chat)
    await wang.accept(chat.key)
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/handback", {"rate": False})
    assert (await world.state(chat)).mode == "bot"
    assert (await world.record(chat)).state == "ended"
    assert any("王丽" in text and "智能助手" in text for _r, text in await texts_of(chat))
    answer = await chat.say("国际漫游怎么开通")
    assert "漫游" in answer
    # The agent no longer holds it: their words are refused.
    response = await wang.post(f"/desk/api/conversations/{chat.key}/messages", {"text": "hi"})
    assert response.status == 403


async def test_hand_back_with_a_rating_asks_for_it_on_a_resolved_case(world: World) -> None:
    wang = await world.add_agent("wang")
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    for state in ("in_progress", "resolved"):
        await wang.ok("POST", f"/desk/api/cases/{number}/state", {"to": state, "note": ""})
    before = await last_seq(chat)
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/handback", {"rate": True})
    events = await chat.events(before)  # the resolved notice is not drained: the hand back asks
    assert any(f"satisfied are you with {number}" in e["text"] for e in events), events
    state = await world.state(chat)
    assert state.mode == "bot" and state.flow == "rate"
    answer = await chat.say("5")
    assert "5 out of 5" in answer
    case = await world.domain.cases.get(number)
    assert case is not None and case.rating == 5


async def test_hand_back_with_a_rating_of_an_open_case_does_not_ask(world: World) -> None:
    wang = await world.add_agent("wang")
    chat = world.chat("en")
    await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    before = await last_seq(chat)
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/handback", {"rate": True})
    texts = " ".join(text for _r, text in await texts_of(chat, before))
    assert "satisfied" not in texts and "What else can I do for you?" in texts
    assert (await world.state(chat)).flow is None


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_resolving_ends_the_handoff_and_asks_for_a_rating(world: World, locale: str) -> None:
    wang = await world.add_agent("wang")
    chat = world.chat(locale)
    number = await world.queue_up(chat, "转人工" if locale == "zh" else "human")
    await wang.accept(chat.key)
    body = await wang.ok(
        "POST", f"/desk/api/conversations/{chat.key}/resolve", {"note": "reset the port"}
    )
    assert body["case"]["state"] == "resolved"
    case = await world.domain.cases.get(number)
    assert case is not None and case.state == "resolved"
    assert ("wang", "reset the port") in await world.archive(number)
    assert (await world.state(chat)).mode == "bot"
    assert (await world.record(chat)).state == "ended"
    assert await world.domain.outbox.drain("test") >= 1
    buttons = [b["payload"] for e in await chat.events() for b in e["buttons"]]
    assert [p for p in buttons if p.startswith(f"rate:{number}:")] == [
        f"rate:{number}:{n}" for n in range(1, 6)
    ]
    await chat.press(f"rate:{number}:4")
    case = await world.domain.cases.get(number)
    assert case is not None and case.rating == 4 and case.state == "closed"
    # The day's figures the supervisor sees: one handoff, one wait, one rating of 4.
    stats = world.domain.stats
    day = await stats.day(stats.today())
    assert (day["handoffs"], day["waits"], day["csat_n"], day["csat_sum"]) == (1, 1, 1, 4)


# --- Leaving and going silent -----------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "leave"),
    [("zh", "取消"), ("en", "cancel"), ("zh", "handoff:leave"), ("en", "handoff:leave")],
)
async def test_leaving_the_queue_ends_the_handoff_and_keeps_the_case_open(
    either: World, locale: str, leave: str
) -> None:
    chat = either.chat(locale)
    number = await either.queue_up(chat, "转人工" if locale == "zh" else "human")
    if leave.startswith("handoff:"):
        answer = await chat.press_button(leave)
    else:
        answer = await chat.say(leave)
    assert number in answer
    assert ("退出排队" if locale == "zh" else "left the queue") in answer
    assert (await either.state(chat)).mode == "bot"
    record = await either.record(chat)
    assert record.state == "ended"
    assert await either.handoff.handoffs.queue() == []
    case = await either.domain.cases.get(number)
    assert case is not None and case.state == "received"
    assert ("customer", "left the queue: call back") in await either.archive(number)
    await chat.say("国际漫游怎么开通" if locale == "zh" else "How do I turn on roaming?")
    assert chat.replies and "queue" not in chat.text and "排" not in chat.text


async def test_leaving_just_as_an_agent_accepts_leaves_the_customer_with_the_agent(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    handoffs = world.handoff.handoffs
    original_end = type(handoffs).end

    async def accepted_first(self: Handoffs, conversation: str, **kwargs: Any) -> Any:
        await handoffs.accept(conversation, "wang")  # the agent's click lands first
        return await original_end(self, conversation, **kwargs)

    monkeypatch.setattr(type(handoffs), "end", accepted_first)
    answer = await chat.press_button("handoff:leave")
    assert "left the queue" not in answer
    assert (await world.state(chat)).mode == "agent"
    assert (await world.record(chat)).state == "held"
    assert ("customer", "left the queue: call back") not in await world.archive(number)


@pytest.mark.parametrize(("held", "idle_s"), [(False, IDLE_QUEUED_S), (True, IDLE_HELD_S)])
async def test_a_silent_customer_is_let_go_and_the_case_stays_open(
    world: World, held: bool, idle_s: int
) -> None:
    wang = await world.add_agent("wang")
    chat, waiting = world.chat("en"), world.chat("en")
    number = await world.queue_up(chat, "human")
    if held:
        await wang.accept(chat.key)
    # A word from the customer restarts the clock.
    world.clock.advance(idle_s - 60)
    await chat.say("still here")
    world.clock.advance(120)
    await world.fire_due()
    assert (await world.record(chat)).state == ("held" if held else "queued")
    await world.queue_up(waiting, "human")  # someone behind, who moves up
    world.clock.advance(idle_s)
    await world.fire_due()
    assert (await world.record(chat)).state == "ended"
    assert await world.why_ended(chat) == "silent"
    assert (await world.state(chat)).mode == "bot"
    texts = [text for _r, text in await texts_of(chat)]
    assert any("have not heard from you" in t and number in t for t in texts)
    case = await world.domain.cases.get(number)
    assert case is not None and case.state not in ("resolved", "closed")
    assert ("system", "customer silent: call back") in await world.archive(number)
    assert chat.key not in await world.handoff.handoffs.held_by("wang")
    if held:
        await world.bus_events.wait(alert("wang", "silent"))
    else:
        assert any("now number 1" in t for _r, t in await texts_of(waiting))


# --- First-contact responsibility -------------------------------------------------------


async def test_the_first_agent_to_accept_owns_the_case(world: World) -> None:
    wang = await world.add_agent("wang")
    li = await world.add_agent("li")
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    assert (await wang.accept(chat.key))["case"] == number
    response = await li.post(f"/desk/api/conversations/{chat.key}/accept")
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "taken"
    case = await world.domain.cases.get(number)
    assert case is not None and case.owner == "wang" and case.helpers == ()
    assert case.state == "assigned"
    assert ("wang", "owner: wang (first contact)") in await world.archive(number)
    body = await wang.ok("GET", f"/desk/api/cases/{number}")
    assert body["case"]["owner"] == "wang"
    assert any(e["actor"] == "wang" and "first contact" in e["note"] for e in body["events"])


async def test_a_transfer_adds_a_helper_keeps_the_owner_and_alerts_them(world: World) -> None:
    wang = await world.add_agent("wang")
    li = await world.add_agent("li", display="李娜")
    await world.add_agent("zhang")
    chat = world.chat("zh")
    number = await world.queue_up(chat)
    await wang.accept(chat.key)
    path = f"/desk/api/conversations/{chat.key}/transfer"
    await wang.ok("POST", path, {"agent": "li", "note": "billing question"})
    record = await world.record(chat)
    assert record.state == "held" and record.agent == "li"
    assert chat.key in await world.handoff.handoffs.held_by("li")
    assert chat.key not in await world.handoff.handoffs.held_by("wang")
    assert any("李娜" in text for _r, text in await texts_of(chat))
    await world.bus_events.wait(alert("li", "transfer"))
    # The helper passes it on: the owner, still accountable, hears of it.
    await li.ok("POST", path, {"agent": "zhang", "note": "needs the network team"})
    case = await world.domain.cases.get(number)
    assert case is not None and case.owner == "wang"
    assert set(case.helpers) == {"li", "zhang"}
    event = await world.bus_events.wait(alert("wang", "transfer"))
    assert event.data["case"] == number
    archive = await world.archive(number)
    assert ("wang", "transfer to li: billing question") in archive
    assert ("li", "helper: li") in archive
    # The owner still sees the conversation another agent holds now; helpers too.
    assert (await wang.get(f"/desk/api/conversations/{chat.key}")).status == 200
    assert (await li.get(f"/desk/api/cases/{number}")).status == 200
    # ... and keeps it in their own list, which the helpers do not.
    mine = await wang.ok("GET", "/desk/api/conversations")
    assert [c["number"] for c in mine["owned"]] == [number] and mine["held"] == []
    assert (await li.ok("GET", "/desk/api/conversations"))["owned"] == []
    # Resolved, it leaves the owner's list.
    zhang = await world.login("zhang")
    await zhang.ok("POST", f"/desk/api/conversations/{chat.key}/resolve", {"note": "done"})
    assert (await wang.ok("GET", "/desk/api/conversations"))["owned"] == []


async def test_a_transfer_to_a_team_queues_again_and_the_owner_stays(world: World) -> None:
    wang = await world.add_agent("wang")
    li = await world.add_agent("li")
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    await wang.ok(
        "POST", f"/desk/api/conversations/{chat.key}/transfer", {"team": "billing", "note": "?"}
    )
    assert (await world.state(chat)).mode == "queued"
    queue = await li.ok("GET", "/desk/api/queue")
    assert [(e["conversation"], e["team"]) for e in queue["entries"]] == [(chat.key, "billing")]
    assert chat.key not in await world.handoff.handoffs.held_by("wang")
    answer = await chat.say("are you there?")
    assert "number 1 in the queue" in answer
    await li.accept(chat.key)
    case = await world.domain.cases.get(number)
    assert case is not None and case.owner == "wang" and case.helpers == ("li",)


async def test_a_returning_customer_is_reserved_for_their_owner_when_online(
    world: World,
) -> None:
    wang = await world.add_agent("wang")
    li = await world.add_agent("li")
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/handback", {"rate": False})
    world.bus_events.events.clear()
    await chat.say("hello")
    assert await world.queue_up(chat, "human") == number  # the same case, the same owner
    record = await world.record(chat)
    assert record.owner == "wang" and record.reserved_for == "wang"
    event = await world.bus_events.wait(alert("wang", "returned"))
    assert event.data["case"] == number and event.data["conversation"] == chat.key
    queue = await li.ok("GET", "/desk/api/queue")
    assert queue["entries"][0]["owner"] == "wang"
    response = await li.post(f"/desk/api/conversations/{chat.key}/accept")
    assert response.status == 409 and (await response.json())["error"]["code"] == "taken"
    # The reservation lapses: anyone may take it, and the owner stays the owner.
    world.clock.advance(RESERVED_S + 1)
    await li.accept(chat.key)
    case = await world.domain.cases.get(number)
    assert case is not None and case.owner == "wang" and case.helpers == ("li",)
    await world.bus_events.wait(alert("wang", "helper"))


async def test_the_owner_takes_back_their_reserved_customer(world: World) -> None:
    wang = await world.add_agent("wang")
    chat = world.chat("en")
    await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/handback", {"rate": False})
    await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    assert (await world.record(chat)).agent == "wang"


async def test_a_returning_customer_is_queued_marked_with_an_offline_owner(
    world: World,
) -> None:
    wang = await world.add_agent("wang")
    li = await world.add_agent("li")
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/handback", {"rate": False})
    await wang.ok("POST", "/desk/api/presence", {"status": "offline"})
    world.bus_events.events.clear()
    await world.queue_up(chat, "human")
    record = await world.record(chat)
    assert record.owner == "wang" and record.reserved_for is None and record.case == number
    await world.bus_events.wait(alert("wang", "returned"))
    queue = await li.ok("GET", "/desk/api/queue")
    assert [(e["owner"], e["reserved_for"]) for e in queue["entries"]] == [("wang", None)]
    await li.accept(chat.key)  # nobody waits for an owner who is away
    case = await world.domain.cases.get(number)
    assert case is not None and case.owner == "wang"


async def test_a_verified_customer_on_another_conversation_goes_to_their_owner(
    world: World,
) -> None:
    wang = await world.add_agent("wang")
    li = await world.add_agent("li")
    first = world.chat("en")
    await verify(world, first)
    number = await world.queue_up(first, "human")
    await wang.accept(first.key)
    await wang.ok("POST", f"/desk/api/conversations/{first.key}/handback", {"rate": False})
    world.bus_events.events.clear()
    again = world.chat("en")  # the same customer, another day, another conversation
    await verify(world, again)
    assert await world.queue_up(again, "human") == number
    record = await world.record(again)
    assert record.owner == "wang" and record.reserved_for == "wang"
    event = await world.bus_events.wait(alert("wang", "returned"))
    assert event.data["conversation"] == again.key
    response = await li.post(f"/desk/api/conversations/{again.key}/accept")
    assert response.status == 409


async def test_resolving_a_case_the_customer_brought_from_another_conversation_asks_there(
    world: World,
) -> None:
    wang = await world.add_agent("wang")
    first = world.chat("en")
    await verify(world, first)
    number = await world.queue_up(first, "human")
    await wang.accept(first.key)
    await wang.ok("POST", f"/desk/api/conversations/{first.key}/handback", {"rate": False})
    again = world.chat("en")
    await verify(world, again)
    assert await world.queue_up(again, "human") == number
    await wang.accept(again.key)
    before = await last_seq(again)
    await wang.ok("POST", f"/desk/api/conversations/{again.key}/resolve", {"note": "fixed"})
    await world.domain.outbox.drain("test")
    # The customer is here now, not in the conversation the case began in.
    texts = " ".join(text for _r, text in await texts_of(again, before))
    assert f"{number} has been resolved" in texts and "satisfied" in texts
    assert (await world.state(again)).flow == "rate"
    assert "5 out of 5" in await again.say("5")


async def test_a_customer_back_about_a_resolved_case_can_be_resolved_again(world: World) -> None:
    wang = await world.add_agent("wang")
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/resolve", {"note": "reset"})
    await chat.say("It is broken again")
    # Not closed (not rated yet): the same case, back to its owner.
    assert await world.queue_up(chat, "human") == number
    await wang.accept(chat.key)
    body = await wang.ok(
        "POST", f"/desk/api/conversations/{chat.key}/resolve", {"note": "replaced the modem"}
    )
    assert body["case"]["state"] == "resolved"
    assert (await world.state(chat)).mode == "bot"
    archive = await world.archive(number)
    assert ("wang", "replaced the modem") in archive


async def test_only_a_supervisor_changes_the_owner_with_a_reason(world: World) -> None:
    wang = await world.add_agent("wang")
    li = await world.add_agent("li")
    boss = await world.add_agent("zhao", "supervisor")
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    path = f"/desk/api/cases/{number}/owner"
    for agent in (wang, li):
        response = await agent.post(path, {"owner": "li", "reason": "I want it"})
        assert response.status == 403
    response = await boss.post(path, {"owner": "li", "reason": "  "})
    assert response.status == 422
    response = await boss.post(path, {"owner": "nobody", "reason": "typo"})
    assert response.status == 422
    case = await world.domain.cases.get(number)
    assert case is not None and case.owner == "wang"
    body = await boss.ok("POST", path, {"owner": "li", "reason": "wang is on leave"})
    assert body == {"owner": "li", "former": "wang"}
    case = await world.domain.cases.get(number)
    assert case is not None and case.owner == "li"
    assert ("zhao", "owner: wang -> li: wang is on leave") in await world.archive(number)
    await world.bus_events.wait(alert("li", "owner"))
    await world.bus_events.wait(alert("wang", "owner"))
    # The case moves from the former owner's list to the new owner's.
    assert (await wang.ok("GET", "/desk/api/conversations"))["owned"] == []
    owned = (await li.ok("GET", "/desk/api/conversations"))["owned"]
    assert [c["number"] for c in owned] == [number]


# --- Exactly one wins; two processes --------------------------------------------------------


async def test_exactly_one_of_twenty_agents_accepting_at_once_wins(world: World) -> None:
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    agents = [AgentRef(f"agent{i:02d}", f"Agent {i}") for i in range(20)]
    results = await asyncio.gather(
        *(world.handoff.accept(chat.key, agent) for agent in agents), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, HandoffRecord)]
    lost = [r for r in results if isinstance(r, Taken)]
    assert len(won) == 1 and len(lost) == 19, results
    winner = (await world.record(chat)).agent
    assert winner is not None and won[0].agent == winner
    assert {t.why for t in lost} == {"held"} and {t.who for t in lost} == {winner}
    case = await world.domain.cases.get(number)
    assert case is not None and case.owner == winner and case.helpers == ()
    held = {a.name: await world.handoff.handoffs.held_by(a.name) for a in agents}
    assert {name for name, conversations in held.items() if conversations} == {winner}
    joined = [t for r, t in await texts_of(chat) if r == "bot" and "is now with you" in t]
    assert len(joined) == 1


async def test_exactly_one_wins_in_the_store_script_too(world: World) -> None:
    chat = world.chat("en")
    await world.queue_up(chat, "human")
    results = await asyncio.gather(
        *(world.handoff.handoffs.accept(chat.key, f"agent{i}") for i in range(20)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, HandoffRecord) for r in results) == 1
    assert sum(isinstance(r, Taken) for r in results) == 19


async def test_a_desk_on_one_process_follows_a_customer_served_by_another(
    settings: Settings, services: Services, real_redis: str, clock: MovableClock
) -> None:
    async with (
        running_world(settings, services, connect(real_redis), clock) as a,
        running_world(settings, services, connect(real_redis), clock) as b,
    ):
        await a.agents.add("wang", PASSWORD, "agent")
        wang = await b.login("wang")
        ws = await wang.socket()
        try:
            await ws.send_json({"type": "ping"})
            await receive_until(ws, lambda d: d["type"] == "pong")
            chat = a.chat("zh")
            await a.queue_up(chat)
            await receive_until(ws, lambda d: d["type"] == "queue")
            await ws.send_json({"type": "watch", "conversation": chat.key, "after": 0})
            await receive_until(ws, lambda d: d["type"] == "entry")  # the history so far
            seq = await last_seq(chat)
            await chat.say("我家宽带从早上开始断网")
            data = await receive_until(
                ws, lambda d: d["type"] == "entry" and d["entry"]["seq"] > seq
            )
            assert data["conversation"] == chat.key
            assert data["entry"]["role"] == "customer"
            assert data["entry"]["text"] == "我家宽带从早上开始断网"
        finally:
            await ws.close()


async def test_a_waiting_reader_learns_at_once_that_the_agent_resolved(world: World) -> None:
    wang = await world.add_agent("wang")
    chat = world.chat("en")
    await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    after = await last_seq(chat)
    poll = asyncio.create_task(
        world.client.get(f"/api/chat/{chat.id}/events?after={after}&wait=20")
    )
    await asyncio.sleep(0.2)  # the long poll is waiting
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/resolve", {"note": "fixed"})
    # Resolving says nothing in the chat itself (the rating request comes as a notice),
    # yet the waiting reader is woken with the new mode rather than after its 20 s.
    response = await asyncio.wait_for(poll, 5)
    assert (await response.json())["mode"] == "bot"


async def test_the_open_case_index_follows_opens_resolutions_and_reopens(world: World) -> None:
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    handoffs, cases = world.handoff.handoffs, world.domain.cases
    assert number in await handoffs.open_cases()
    for state in ("assigned", "in_progress"):
        await cases.move(number, state, actor="wang")
        assert number in await handoffs.open_cases()
    await cases.move(number, "resolved", actor="wang")
    assert number not in await handoffs.open_cases()
    await cases.move(number, "in_progress", actor="customer", note="still broken")
    assert number in await handoffs.open_cases()
