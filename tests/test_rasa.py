"""Rasa: Shouwen's actions called as Rasa 3.6 calls them, and the sample project that uses them.

Every call posts a real action-server payload (`next_action`, `sender_id`, the full tracker
state with its events, the domain as a dict, `version`) to /rasa/webhook and reads back
events and responses. An agent's reply to a Rasa user is delivered to a fake Rasa server
that records what its HTTP API was sent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.dialog import Services
from bot.errors import StoreUnavailable
from bot.handoff import LEAVE
from bot.i18n import _
from bot.messages import Reply
from bot.services.appointments import AppointmentDraft
from bot.services.outbox import Unreachable
from bot.settings import Settings
from bot.state import ConversationState
from bot.store.client import RedisHandles, connect
from connectors.rasa.answers import read_rating
from connectors.rasa.call import chat_of, sender_of
from connectors.rasa.channel import RasaChannel
from connectors.rasa.cli import actions_app
from tests.conftest import MovableClock
from tests.desk_world import World, running_world

SAMPLE = Path(__file__).resolve().parents[1] / "connectors" / "rasa" / "sample"
DOMAIN: dict[str, Any] = yaml.safe_load((SAMPLE / "domain.yml").read_text(encoding="utf-8"))
PHONE = "13800138000"
OTHER_PHONE = "13900139000"
ID_NUMBER = "11010519491231002X"  # valid GB 11643 (fake)
BOOKING_FORM = "shouwen_booking_form"
# At the test clock (Monday 2026-11-23 10:00, Shanghai) "tomorrow" is the 24th.
TOMORROW = "20261124"
SERVED = {
    "action_shouwen_complaint",
    "action_shouwen_fault",
    "validate_shouwen_booking_form",
    "action_ask_window",
    "action_shouwen_book",
    "action_shouwen_reschedule",
    "action_shouwen_cancel_appointment",
    "action_shouwen_progress",
    "action_shouwen_rate",
    "action_shouwen_handoff",
}


def domain_dict() -> dict[str, Any]:
    """The domain as Rasa's `Domain.as_dict()` sends it: slots with their defaults."""
    slots = {
        name: {"initial_value": None, "influence_conversation": False, **spec}
        for name, spec in DOMAIN["slots"].items()
    }
    return {**DOMAIN, "slots": slots, "e2e_actions": []}


def action_call(
    action: str,
    sender: str,
    *,
    now: float,
    text: str = "",
    intent: str = "inform",
    entities: dict[str, str] | None = None,
    slots: dict[str, Any] | None = None,
    candidates: dict[str, Any] | None = None,
    active_loop: str | None = None,
    language: str | None = None,
    history: list[dict[str, Any]] | None = None,
    after: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What Rasa 3.6 posts to the action server: `RemoteAction._action_call_format`, whose
    tracker is `DialogueStateTracker.current_state(EventVerbosity.ALL)`. `candidates` are
    slot values the form extracted and asks the validation action about (the trailing slot
    events of the tracker)."""
    found = [
        {
            "entity": name,
            "start": 0,
            "end": len(value),
            "value": value,
            "extractor": "RegexEntityExtractor",
        }
        for name, value in (entities or {}).items()
    ]
    message_id = uuid.uuid4().hex
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.97},
        "entities": found,
        "message_id": message_id,
        "metadata": {"language": language} if language else {},
        "intent_ranking": [{"name": intent, "confidence": 0.97}],
        "response_selector": {"all_retrieval_intents": [], "default": {"ranking": []}},
    }
    meta = {"model_id": "5f2a0c1d", "assistant_id": "shouwen-sample"}
    events: list[dict[str, Any]] = [
        {"event": "action", "timestamp": now - 60, "metadata": meta, "name": "action_session_start",
         "policy": None, "confidence": 1.0, "action_text": None, "hide_rule_turn": False},
        {"event": "session_started", "timestamp": now - 60, "metadata": meta},
        {"event": "action", "timestamp": now - 60, "metadata": meta, "name": "action_listen",
         "policy": None, "confidence": None, "action_text": None, "hide_rule_turn": False},
        *(history or []),
        {"event": "user", "timestamp": now - 1, "metadata": meta, "text": text, "parse_data": parse,
         "input_channel": "rest", "message_id": message_id},
        {"event": "user_featurization", "timestamp": now - 1, "use_text_for_featurization": False},
    ]  # fmt: skip
    all_slots = {name: None for name in DOMAIN["slots"]} | {"requested_slot": None}
    all_slots |= (slots or {}) | (candidates or {})
    loop: dict[str, Any] = {}
    if active_loop is not None:
        loop = {"name": active_loop, "validate": True, "rejected": False, "trigger_message": parse}
        events += [
            {"event": "active_loop", "timestamp": now, "name": active_loop},
            {"event": "slot", "timestamp": now, "name": "requested_slot",
             "value": next(iter(candidates or {"service": None}))},
        ]  # fmt: skip
    events.append({"event": "action", "timestamp": now, "name": active_loop or "action_listen"})
    events += [
        {"event": "slot", "timestamp": now, "name": k, "value": v}
        for k, v in (candidates or {}).items()
    ]
    events += after or []
    tracker = {
        "sender_id": sender,
        "slots": all_slots,
        "latest_message": parse,
        "latest_event_time": now,
        "followup_action": None,
        "paused": False,
        "events": events,
        "latest_input_channel": "rest",
        "active_loop": loop,
        "latest_action": {"action_name": active_loop or "action_listen"},
        "latest_action_name": active_loop or "action_listen",
    }
    return {
        "next_action": action,
        "sender_id": sender,
        "tracker": tracker,
        "domain": domain_dict(),
        "version": "3.6.20",
    }


class Rasa:
    """Rasa's side of the webhook: calls an action and reads what it answered."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def run(self, action: str, sender: str = "u1", **tracker: Any) -> dict[str, Any]:
        body = action_call(action, sender, now=self.world.clock(), **tracker)
        response = await self.world.client.post("/rasa/webhook", json=body)
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


def said(result: dict[str, Any]) -> str:
    return "\n".join(r["text"] for r in result["responses"])


async def complain(
    rasa: Rasa,
    category: str = "network",
    description: str = "The mobile network is slow in my flat",
    *,
    phone: str = PHONE,
    sender: str = "u1",
    **tracker: Any,
) -> dict[str, Any]:
    """The complaint action, in English, with its form's slots filled."""
    slots = {"category": category, "description": description, "phone": phone}
    return await rasa.run("action_shouwen_complaint", sender, language="en", slots=slots, **tracker)


def slot_sets(result: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in result["events"] if e["event"] == "slot"}


def kinds(result: dict[str, Any]) -> list[str]:
    return [e["event"] for e in result["events"]]


class FakeRasa:
    """Rasa's HTTP API as far as Shouwen uses it: appending events to a tracker."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], list[dict[str, Any]]]] = []
        self.down = False  # answers 503, as a Rasa restarting

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{sender}/tracker/events", self.append)
        return app

    async def append(self, request: web.Request) -> web.Response:
        if self.down:
            return web.json_response({"error": "down"}, status=503)
        self.calls.append((request.match_info["sender"], dict(request.query), await request.json()))
        return web.json_response({"sender_id": request.match_info["sender"]})

    def texts(self) -> list[str]:
        return [e["text"] for _s, _q, events in self.calls for e in events if e["event"] == "bot"]


@contextlib.asynccontextmanager
async def server(
    services: Services, handles: RedisHandles, clock: MovableClock, **settings: Any
) -> AsyncIterator[tuple[World, Rasa]]:
    async with running_world(Settings(**settings), services, handles, clock) as world:
        yield world, Rasa(world)


@pytest.fixture
async def served(
    services: Services, handles: RedisHandles, clock: MovableClock
) -> AsyncIterator[tuple[World, Rasa]]:
    """The server on the embedded store and on a real Redis."""
    async with server(services, handles, clock) as running:
        yield running


@pytest.fixture
async def embedded(services: Services, clock: MovableClock) -> AsyncIterator[tuple[World, Rasa]]:
    async with server(services, connect(None), clock) as running:
        yield running


@pytest.fixture
async def reachable(
    services: Services, handles: RedisHandles, clock: MovableClock
) -> AsyncIterator[tuple[World, Rasa]]:
    """The server with Rasa's API (a fake) at SHOUWEN_RASA_URL, so a handoff pauses Rasa;
    on the embedded store and on a real Redis."""
    fake = FakeRasa()
    async with TestServer(fake.app()) as rasa_api:
        url = str(rasa_api.make_url("")).rstrip("/")
        async with server(services, handles, clock, rasa_url=url) as running:
            yield running


# --- Cases -------------------------------------------------------------------------------


async def test_a_complaint_becomes_a_graded_case_with_its_promised_time(
    served: tuple[World, Rasa],
) -> None:
    world, rasa = served
    result = await complain(rasa, "attitude", "The store clerk shouted at me.", text=PHONE)
    number = slot_sets(result)["case_number"]
    case = await world.domain.cases.get(number)
    assert case is not None and case.kind == "complaint" and case.category == "attitude"
    assert case.grade == "ordinary" and case.conversation == "rasa:u1"
    assert case.due["response"] - case.created == 24 * 3600  # ordinary: 24 h
    assert case.customer == world.domain.customers.id_for(PHONE) and case.contact == PHONE
    assert f"registered as case {number}, graded ordinary" in said(result)
    assert "within 24 hours" in said(result)
    assert slot_sets(result)["category"] is None  # a second complaint starts afresh


async def test_a_complaint_naming_the_regulator_goes_up_a_grade(served: tuple[World, Rasa]) -> None:
    world, rasa = served
    result = await complain(rasa, "billing", "Overcharged, I will go to MIIT")
    case = await world.domain.cases.get(slot_sets(result)["case_number"])
    assert case is not None and case.grade == "ordinary"  # billing is complex, one step up
    assert "Graded higher because of: the regulator is named." in said(result)


async def test_an_urgent_complaint_goes_to_a_person_at_once(
    reachable: tuple[World, Rasa],
) -> None:
    world, rasa = reachable
    result = await complain(rasa, "privacy", "My personal data was leaked")
    number = slot_sets(result)["case_number"]
    assert "pause" in kinds(result)
    queue = await world.handoff.handoffs.queue()
    assert [(r.conversation, r.case, r.reason) for r in queue] == [
        ("rasa:u1", number, "urgent_complaint")
    ]


async def test_a_bad_phone_is_asked_for_again_with_the_reason(embedded: tuple[World, Rasa]) -> None:
    _world, rasa = embedded
    result = await complain(rasa, "network", "No signal at home for days", phone="1380013800")
    assert result["events"][0] == {
        "event": "slot",
        "timestamp": None,
        "name": "phone",
        "value": None,
    }
    assert {"event": "followup", "timestamp": None, "name": "shouwen_complaint_form"} in result[
        "events"
    ]
    assert "A mobile number has 11 digits" in said(result)


async def test_a_fault_report_tells_the_outage_and_promises_2_and_4_hours(
    served: tuple[World, Rasa],
) -> None:
    world, rasa = served
    result = await rasa.run(
        "action_shouwen_fault",
        language="en",
        slots={"place": "xihu", "description": "Broadband down since this morning", "phone": PHONE},
    )
    case = await world.domain.cases.get(slot_sets(result)["case_number"])
    assert case is not None and case.kind == "fault" and case.area == "xihu"
    assert case.due["response"] - case.created == 2 * 3600
    assert case.due["repair"] - case.created == 4 * 3600
    text = said(result)
    assert text.index("known outage in Xihu District") < text.index(f"repair case {case.number}")
    visit = result["responses"][-1]["buttons"][0]["payload"]
    assert visit == '/book_appointment{"service":"onsite_repair","place":"xihu"}'


# --- Booking -----------------------------------------------------------------------------


async def validate(rasa: Rasa, candidates: dict[str, Any], **slots: Any) -> dict[str, Any]:
    return await rasa.run(
        f"validate_{BOOKING_FORM}",
        language="en",
        text=str(next(iter(candidates.values()))),
        slots=slots,
        candidates=candidates,
        active_loop=BOOKING_FORM,
    )


async def test_the_booking_form_refuses_an_id_number_whose_check_digit_fails(
    embedded: tuple[World, Rasa],
) -> None:
    _world, rasa = embedded
    booking = {
        "service": "broadband_install",
        "place": "xihu",
        "window": f"xihu:{TOMORROW}:0900",
        "phone": PHONE,
    }
    result = await validate(rasa, {"id_number": "110105194912310021"}, **booking)
    assert slot_sets(result)["id_number"] is None
    assert "check digit" in said(result)
    result = await validate(rasa, {"id_number": ID_NUMBER.lower()}, **booking)
    assert slot_sets(result)["id_number"] == ID_NUMBER


async def test_the_booking_form_needs_no_id_number_where_the_service_needs_none(
    embedded: tuple[World, Rasa],
) -> None:
    _world, rasa = embedded
    result = await validate(
        rasa,
        {"phone": PHONE},
        service="onsite_repair",
        place="xihu",
        window=f"xihu:{TOMORROW}:0900",
    )
    assert slot_sets(result) == {"phone": PHONE, "requested_slot": None}  # the form is done
    result = await validate(
        rasa,
        {"phone": PHONE},
        service="store_business",
        place="wensan",
        window=f"wensan:{TOMORROW}:0900",
    )
    assert slot_sets(result) == {"phone": PHONE}  # Rasa's form asks for the ID number next


async def test_the_booking_form_takes_a_day_and_time_from_real_capacity(
    served: tuple[World, Rasa],
) -> None:
    _world, rasa = served
    result = await validate(rasa, {"window": "明天下午3点"}, service="onsite_repair", place="xihu")
    assert slot_sets(result)["window"] == f"xihu:{TOMORROW}:1400"
    result = await validate(rasa, {"window": "明天晚上10点"}, service="onsite_repair", place="xihu")
    assert slot_sets(result)["window"] is None
    assert "outside our service hours" in said(result)


async def fill(world: World, window: str) -> None:
    """Book every place of an on-site repair window, for other customers."""
    for n in range(3):
        phone = f"1390013900{n}"
        await world.domain.appointments.book(
            AppointmentDraft(
                "onsite_repair", window, world.domain.customers.id_for(phone), None, "zh", phone
            )
        )


async def test_a_full_window_offers_the_nearest_free_ones(served: tuple[World, Rasa]) -> None:
    world, rasa = served
    await fill(world, f"xihu:{TOMORROW}:0900")
    result = await validate(
        rasa, {"window": f"xihu:{TOMORROW}:0900"}, service="onsite_repair", place="xihu"
    )
    assert slot_sets(result)["window"] is None
    offered = result["responses"][0]
    assert offered["text"].startswith("Sorry, that window is full")
    payloads = [b["payload"] for b in offered["buttons"]]
    assert f'/inform{{"window":"xihu:{TOMORROW}:1100"}}' in payloads
    assert all(f"xihu:{TOMORROW}:0900" not in p for p in payloads)
    # The form asks again: not in the turn that has just said why and offered windows.
    ask: dict[str, Any] = {"language": "en", "slots": {"service": "onsite_repair", "place": "xihu"}}
    asked = await rasa.run("action_ask_window", **ask)
    assert said(asked).startswith("When would you like it?")
    assert len(asked["responses"][0]["buttons"]) == 4
    refused = [
        {"event": "bot", "timestamp": world.clock(), "text": offered["text"], "data": {}},
        {"event": "slot", "timestamp": world.clock(), "name": "window", "value": None},
    ]
    assert (await rasa.run("action_ask_window", after=refused, **ask))["responses"] == []


def repair_booking(at: str) -> dict[str, str]:
    """The booking form's slots for an on-site repair in Xihu tomorrow at `at` ("1400")."""
    return {
        "service": "onsite_repair",
        "place": "xihu",
        "window": f"xihu:{TOMORROW}:{at}",
        "phone": PHONE,
    }


async def test_book_reschedule_and_cancel(served: tuple[World, Rasa]) -> None:
    world, rasa = served
    appointments = world.domain.appointments
    slots = repair_booking("1400")
    booked = await rasa.run("action_shouwen_book", language="en", slots=slots)
    number = slot_sets(booked)["appointment_number"]
    assert f"Your appointment number is {number}" in said(booked)
    assert slot_sets(booked)["window"] is None
    appointment = await appointments.get(number)
    assert appointment is not None and appointment.conversation == "rasa:u1"
    assert appointment.window == f"xihu:{TOMORROW}:1400" and appointment.contact == PHONE

    # A button of the offer Rasa shows: the intent with both entities.
    new = f"xihu:{TOMORROW}:1600"
    button = json.dumps({"appointment_number": number, "window": new})
    moved = await rasa.run(
        "action_shouwen_reschedule",
        language="en",
        text=f"/change_appointment{button}",
        intent="change_appointment",
        entities={"appointment_number": number, "window": new},
    )
    assert f"appointment {number} is now on" in said(moved)
    assert (await appointments.get(number)).window == new  # type: ignore[union-attr]

    cancelled = await rasa.run(
        "action_shouwen_cancel_appointment",
        language="en",
        text=f"cancel {number}",
        intent="cancel_appointment",
        entities={"appointment_number": number},
    )
    assert f"Appointment {number} is cancelled" in said(cancelled)
    assert (await appointments.get(number)).state == "cancelled"  # type: ignore[union-attr]


async def test_only_the_owner_moves_or_cancels_an_appointment(served: tuple[World, Rasa]) -> None:
    world, rasa = served
    slots = repair_booking("1400")
    number = slot_sets(await rasa.run("action_shouwen_book", slots=slots))["appointment_number"]
    other = await rasa.run(
        "action_shouwen_cancel_appointment",
        "u2",
        language="en",
        text=f"cancel {number}",
        entities={"appointment_number": number},
    )
    assert f"I could not find appointment {number} among yours" in said(other)
    assert (await world.domain.appointments.get(number)).state == "booked"  # type: ignore[union-attr]


async def test_a_booking_whose_window_filled_meanwhile_goes_back_to_the_form(
    embedded: tuple[World, Rasa],
) -> None:
    world, rasa = embedded
    await fill(world, f"xihu:{TOMORROW}:0900")
    slots = repair_booking("0900")
    result = await rasa.run("action_shouwen_book", language="en", slots=slots)
    assert result["events"][-2:] == [
        {"event": "slot", "timestamp": None, "name": "window", "value": None},
        {"event": "followup", "timestamp": None, "name": BOOKING_FORM},
    ]
    assert said(result).startswith("Sorry, that window is full")


# --- Progress and ratings ----------------------------------------------------------------


async def complaint(rasa: Rasa, sender: str = "u1") -> str:
    result = await complain(rasa, sender=sender)
    number: str = slot_sets(result)["case_number"]
    return number


async def test_progress_is_shown_to_the_owner_only(served: tuple[World, Rasa]) -> None:
    _world, rasa = served
    number = await complaint(rasa)

    async def ask(sender: str, **slots: Any) -> str:
        result = await rasa.run(
            "action_shouwen_progress",
            sender,
            language="en",
            text=f"where is {number}",
            intent="query_progress",
            entities={"case_number": number},
            slots=slots,
        )
        return said(result)

    mine = await ask("u1")
    assert f"Complaint {number} is received" in mine and "Due by" in mine
    stranger = await ask("u2")
    assert (
        stranger == f"I found nothing under {number} that I can show you. Please check the number."
    )
    assert "slow" not in stranger and "received" not in stranger
    # Another conversation of the same verified customer sees it.
    assert f"Complaint {number} is received" in await ask("u3", verified_phone=PHONE)
    assert "nothing under" in await ask("u4", verified_phone=OTHER_PHONE)


async def test_a_mistyped_number_is_said_to_be_one(embedded: tuple[World, Rasa]) -> None:
    _world, rasa = embedded
    result = await rasa.run(
        "action_shouwen_progress", language="en", text="C2611230047", intent="query_progress"
    )
    assert said(result).startswith("C2611230047 looks mistyped")


async def resolve(world: World, number: str) -> None:
    for state in ("assigned", "in_progress", "resolved"):
        await world.domain.cases.move(number, state, actor="alice", internal=state != "resolved")


async def test_ratings_close_a_case_and_a_low_one_opens_a_callback(
    served: tuple[World, Rasa],
) -> None:
    world, rasa = served
    good, poor = await complaint(rasa), await complaint(rasa)
    await resolve(world, good)
    await resolve(world, poor)

    async def rate(number: str, stars: str) -> dict[str, Any]:
        payload = json.dumps({"case_number": number, "rating": stars})
        return await rasa.run(
            "action_shouwen_rate",
            language="en",
            text=f"/rate_service{payload}",
            intent="rate_service",
            entities={"case_number": number, "rating": stars},
        )

    assert "Thank you for rating us 5 out of 5!" in said(await rate(good, "5"))
    rated = await world.domain.cases.get(good)
    assert rated is not None and rated.rating == 5 and rated.state == "closed"

    low = await rate(poor, "2")
    case = await world.domain.cases.get(poor)
    assert case is not None and case.rating == 2 and case.state == "resolved" and case.callback
    callback = await world.domain.cases.get(case.callback)
    assert callback is not None and callback.kind == "callback" and callback.parent == poor
    assert f"A supervisor will call you back: case {callback.number}" in said(low)
    assert "already rated" in said(await rate(poor, "4"))


async def test_a_rating_without_stars_asks_for_them(embedded: tuple[World, Rasa]) -> None:
    world, rasa = embedded
    number = await complaint(rasa)
    await resolve(world, number)
    result = await rasa.run(
        "action_shouwen_rate", language="en", text=f"rate {number}", intent="rate_service"
    )
    assert f"How satisfied are you with {number}?" in said(result)
    stars = [b["payload"] for b in result["responses"][0]["buttons"]]
    assert stars[0] == "/rate_service" + json.dumps(
        {"case_number": number, "rating": "1"}, separators=(",", ":")
    )
    assert len(stars) == 5


async def test_someone_elses_case_cannot_be_rated(embedded: tuple[World, Rasa]) -> None:
    world, rasa = embedded
    number = await complaint(rasa)
    await resolve(world, number)
    result = await rasa.run(
        "action_shouwen_rate", "u2", language="en", entities={"case_number": number, "rating": "1"}
    )
    assert said(result) == f"I cannot find {number} among your cases and visits."
    assert (await world.domain.cases.get(number)).rating is None  # type: ignore[union-attr]


# --- Handoff -----------------------------------------------------------------------------


async def test_a_handoff_pauses_rasa_queues_and_agents_reach_the_rasa_user(
    services: Services, handles: RedisHandles, clock: MovableClock
) -> None:
    fake = FakeRasa()
    async with TestServer(fake.app()) as rasa_api:
        url = str(rasa_api.make_url("")).rstrip("/")
        settings = {"rasa_url": url, "rasa_token": "s3cret"}
        async with server(services, handles, clock, **settings) as (world, _rasa):
            agent = await world.add_agent("alice", display="Alice")
            history = [
                {
                    "event": "user",
                    "timestamp": clock() - 30,
                    "text": "My bill is wrong",
                    "parse_data": {},
                },
                {
                    "event": "bot",
                    "timestamp": clock() - 29,
                    "text": "Sorry to hear that.",
                    "data": {},
                },
            ]
            body = action_call(
                "action_shouwen_handoff", "u1", now=clock(), text="I want a real person",
                intent="human_agent", language="en", history=history,
            )  # fmt: skip
            refused = await world.client.post("/rasa/webhook", json=body)
            assert refused.status == 401
            response = await world.client.post("/rasa/webhook?token=s3cret", json=body)
            result = await response.json()
            assert kinds(result) == ["pause"]
            assert "You are number 1 in the queue" in said(result)
            queue = await world.handoff.handoffs.queue()
            assert [r.conversation for r in queue] == ["rasa:u1"]
            assert queue[0].preview == "I want a real person" and queue[0].case

            # The agent sees the story in the desk, takes the conversation and writes.
            seen = await agent.ok("GET", "/desk/api/conversations/rasa:u1")
            lines = [(e["role"], e["text"]) for e in seen["entries"]]
            assert ("customer", "My bill is wrong") in lines and (
                "bot",
                "Sorry to hear that.",
            ) in lines
            await agent.accept("rasa:u1")
            await agent.ok(
                "POST", "/desk/api/conversations/rasa:u1/messages", {"text": "Hello, I can help."}
            )
            await world.domain.outbox.drain("t")
            assert "Alice from customer service is now with you." in fake.texts()
            assert "Alice: Hello, I can help." in fake.texts()
            sender, query, _events = fake.calls[-1]
            assert sender == "u1" and query == {
                "output_channel": "latest", "execute_side_effects": "true", "token": "s3cret",
            }  # fmt: skip

            # While paused in Rasa, the user's words reach the agent through Shouwen.
            answer = await world.client.post(
                "/rasa/messages?token=s3cret",
                json={"sender_id": "u1", "text": "Thanks, my bill is 300 yuan"},
            )
            assert answer.status == 200 and (await answer.json())["mode"] == "agent"
            seen = await agent.ok("GET", "/desk/api/conversations/rasa:u1")
            assert seen["entries"][-1]["text"] == "Thanks, my bill is 300 yuan"

            # Handed back: Rasa's conversation is resumed with the agent's last words.
            fake.calls.clear()
            await agent.ok("POST", "/desk/api/conversations/rasa:u1/handback", {"rate": False})
            await world.domain.outbox.drain("t")
            events = [e for _s, _q, batch in fake.calls for e in batch]
            assert events[-1] == {"event": "resume"}
            again = await world.client.post(
                "/rasa/messages?token=s3cret", json={"sender_id": "u1", "text": "hello?"}
            )
            assert again.status == 409  # the assistant has the user again


async def test_a_handoff_is_about_the_case_the_user_named(
    reachable: tuple[World, Rasa],
) -> None:
    world, rasa = reachable
    number = await complaint(rasa)
    await rasa.run(
        "action_shouwen_handoff",
        language="en",
        text="a person please",
        intent="human_agent",
        slots={"case_number": number},
    )
    record = await world.handoff.handoffs.get("rasa:u1")
    assert record is not None and record.case == number and record.state == "queued"
    raw, _seq = await world.runtime.store.load("rasa:u1")
    assert raw is not None and ConversationState.from_json(raw).mode == "queued"


async def test_outside_the_agents_hours_a_callback_case_is_opened_instead(
    served: tuple[World, Rasa],
) -> None:
    world, rasa = served
    world.clock.advance(12 * 3600)  # 22:00: nobody at the desk
    result = await rasa.run(
        "action_shouwen_handoff", language="en", intent="human_agent", slots={"phone": PHONE}
    )
    assert "pause" not in kinds(result)
    number = slot_sets(result)["case_number"]
    case = await world.domain.cases.get(number)
    assert case is not None and case.kind == "callback" and case.contact == PHONE
    assert f"Done: case {number}. We will call {PHONE} by" in said(result)
    assert await world.handoff.handoffs.queue() == []
    unknown = await rasa.run("action_shouwen_handoff", "u2", language="en", intent="human_agent")
    assert unknown["events"] == [] and "Tell me a mobile number" in said(unknown)


async def test_a_resolved_case_asks_the_rasa_user_for_a_rating_in_rasa_terms(
    services: Services, handles: RedisHandles, clock: MovableClock
) -> None:
    fake = FakeRasa()
    async with TestServer(fake.app()) as rasa_api:
        url = str(rasa_api.make_url("")).rstrip("/")
        async with server(services, handles, clock, rasa_url=url) as (world, rasa):
            number = await complaint(rasa)
            await resolve(world, number)
            await world.domain.outbox.drain("t")
            buttons = [
                b for _s, _q, events in fake.calls for e in events for b in e["data"]["buttons"]
            ]
            payloads = [b["payload"] for b in buttons]
            assert "/rate_service" + json.dumps({"case_number": number, "rating": "5"}) in payloads
            assert {"event": "resume"} not in [e for _s, _q, events in fake.calls for e in events]


async def test_the_answer_is_in_the_users_language(embedded: tuple[World, Rasa]) -> None:
    world, rasa = embedded
    question = _("Which case or appointment shall I look up?")
    catalogs = world.runtime.engine.services.catalogs

    async def ask(**tracker: Any) -> str:
        return said(await rasa.run("action_shouwen_progress", intent="query_progress", **tracker))

    assert await ask(text="where is my case") == catalogs.render("en", question)
    assert await ask(text="查一下进度") == catalogs.render("zh", question)
    assert await ask(text="查一下进度", language="en-US") == catalogs.render("en", question)
    button = '/query_progress{"from_button":"the menu"}'  # a payload: no words of the user's
    assert await ask(text=button) == catalogs.render("zh", question)  # the default
    assert await ask(text="where is my case", slots={"language": "zh"}) == catalogs.render(
        "zh", question
    )


async def test_without_a_rasa_url_the_channel_is_unreachable(embedded: tuple[World, Rasa]) -> None:
    world, _rasa = embedded
    runtime = world.runtime
    channel = RasaChannel(runtime.settings, runtime.store, runtime.desk.handoff.handoffs)
    with pytest.raises(Unreachable):
        await channel.deliver("u1", [Reply("hello")], "en")


# --- The protocol ------------------------------------------------------------------------


async def test_the_actions_are_listed(embedded: tuple[World, Rasa]) -> None:
    world, _rasa = embedded
    response = await world.client.get("/rasa/actions")
    assert response.status == 200
    assert {item["name"] for item in await response.json()} == SERVED


async def test_an_unknown_action_is_a_404_as_rasa_sdk_answers_it(
    embedded: tuple[World, Rasa],
) -> None:
    world, _rasa = embedded
    body = action_call("action_make_coffee", "u1", now=world.clock())
    response = await world.client.post("/rasa/webhook", json=body)
    assert response.status == 404
    assert await response.json() == {
        "error": "No registered action found for name 'action_make_coffee'.",
        "action_name": "action_make_coffee",
    }


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"next_action": "action_shouwen_progress"}',
        b'{"next_action": 5, "tracker": {"sender_id": "u1"}}',
        b'{"next_action": "action_shouwen_progress", "tracker": {"sender_id": ""}}',
        b'{"next_action": "action_shouwen_progress", "tracker": {"sender_id": 7}}',
        b'{"next_action": "action_shouwen_progress", "tracker": {"sender_id": "u1", "events": [1]}}',
        b'{"next_action": "action_shouwen_progress", "tracker": {"sender_id": "u1", "slots": "x"}}',
        b'{"next_action": "action_shouwen_progress", "tracker": {"sender_id": "u1", "events": [{"event": "slot"}]}}',
    ],
)
async def test_a_malformed_call_is_a_400(embedded: tuple[World, Rasa], body: bytes) -> None:
    world, _rasa = embedded
    response = await world.client.post(
        "/rasa/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400, await response.text()
    answer = await response.json()  # as rasa-sdk answers: Rasa 3.6 reads both on a 400
    assert isinstance(answer["error"], str) and isinstance(answer["action_name"], str)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"sender_id": "u9", "text": "hello?"}, 409),  # no handoff: Rasa has the user
        ({"sender_id": "", "text": "hello?"}, 400),
        ({"sender_id": "x" * 129, "text": "hello?"}, 400),
        ({"sender_id": "u9"}, 400),
        ({"sender_id": "u9", "payload": "x" * 300}, 400),
        ({"sender_id": "u9", "text": "hi", "message_id": "id with spaces"}, 400),
    ],
)
async def test_messages_while_paused_are_checked(
    embedded: tuple[World, Rasa], body: dict[str, Any], status: int
) -> None:
    world, _rasa = embedded
    response = await world.client.post("/rasa/messages", json=body)
    assert response.status == status, await response.text()
    assert "code" in (await response.json())["error"]


async def test_a_call_without_the_domain_asks_rasa_to_send_it(embedded: tuple[World, Rasa]) -> None:
    world, _rasa = embedded
    body = action_call("action_shouwen_progress", "u1", now=world.clock())
    del body["domain"]
    response = await world.client.post("/rasa/webhook", json=body)
    assert response.status == 449
    assert (await response.json())["action_name"] == "action_shouwen_progress"


async def test_a_compressed_call_is_read(embedded: tuple[World, Rasa]) -> None:
    world, _rasa = embedded
    body = action_call("action_shouwen_progress", "u1", now=world.clock(), language="en")
    response = await world.client.post(
        "/rasa/webhook",
        data=zlib.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "deflate"},
    )
    assert response.status == 200
    assert said(await response.json()) == "Which case or appointment shall I look up?"


async def test_a_store_failure_is_a_polite_reply_not_a_500(
    embedded: tuple[World, Rasa], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, rasa = embedded

    async def down(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable("down")

    monkeypatch.setattr(world.domain.cases, "open", down)
    result = await complain(rasa)
    assert result == {
        "events": [],
        "responses": [{"text": "Sorry, something went wrong. Please try again shortly."}],
    }


async def test_a_token_is_required_when_set(services: Services, clock: MovableClock) -> None:
    async with server(services, connect(None), clock, rasa_token="s3cret") as (world, _rasa):
        assert (await world.client.get("/rasa/actions")).status == 401
        assert (await world.client.get("/rasa/actions?token=wrong")).status == 401
        assert (await world.client.get("/rasa/actions?token=s3cret")).status == 200


async def test_without_a_token_only_this_machine_is_served(embedded: tuple[World, Rasa]) -> None:
    world, _rasa = embedded
    relayed = await world.client.get("/rasa/actions", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status == 403
    assert (await relayed.json())["error"]["code"] == "forbidden"


async def test_rasa_actions_serves_only_the_rasa_routes_and_health(
    services: Services, clock: MovableClock
) -> None:
    from bot.app import build_runtime
    from tests.conftest import RecordingSms

    runtime = build_runtime(
        Settings(), services=services, redis=connect(None), clock=clock, sms=RecordingSms()
    )
    async with TestClient(TestServer(actions_app(runtime))) as client:
        assert (await client.get("/health")).status == 200
        assert {i["name"] for i in await (await client.get("/rasa/actions")).json()} == SERVED
        assert (await client.get("/api/chat/messages")).status == 404


# --- The sample project ------------------------------------------------------------------


def sample(path: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLE / path).read_text(encoding="utf-8"))
    return data


# Intents and actions Rasa brings itself.
RASA_INTENTS = {"nlu_fallback", "restart", "back", "session_start", "out_of_scope"}
RASA_ACTIONS = {
    "action_listen",
    "action_restart",
    "action_default_fallback",
    "action_deactivate_loop",
}


def steps(path: str, key: str) -> list[dict[str, Any]]:
    return [step for item in sample(path)[key] for step in item["steps"]]


def test_every_sample_file_is_rasa_3_yaml() -> None:
    for path in SAMPLE.rglob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict), path
    for path in ("domain.yml", "data/nlu.yml", "data/rules.yml", "data/stories.yml"):
        assert sample(path)["version"] == "3.1", path
    assert sample("config.yml")["language"] == "zh"
    assert sample("endpoints.yml")["action_endpoint"]["url"] == "http://localhost:8080/rasa/webhook"


async def test_the_sample_domain_and_the_served_actions_agree(embedded: tuple[World, Rasa]) -> None:
    world, _rasa = embedded
    served = {item["name"] for item in await (await world.client.get("/rasa/actions")).json()}
    declared = set(DOMAIN["actions"])
    ours = {a for a in declared if a.startswith(("action_shouwen_", "validate_shouwen_"))}
    assert ours <= served
    assert served <= declared  # every served action is declared, action_ask_window too


def test_every_intent_the_sample_uses_is_declared() -> None:
    declared = set(DOMAIN["intents"]) | RASA_INTENTS
    used = {item["intent"] for item in sample("data/nlu.yml")["nlu"] if "intent" in item}
    used |= {step["intent"] for step in steps("data/rules.yml", "rules") if "intent" in step}
    used |= {step["intent"] for step in steps("data/stories.yml", "stories") if "intent" in step}
    assert used <= declared, used - declared
    assert set(DOMAIN["intents"]) - {"affirm", "deny"} <= used  # none declared for nothing


def test_every_response_and_action_the_sample_uses_is_declared() -> None:
    responses, actions, forms = (
        set(DOMAIN["responses"]),
        set(DOMAIN["actions"]),
        set(DOMAIN["forms"]),
    )
    used = {
        step["action"]
        for step in steps("data/rules.yml", "rules") + steps("data/stories.yml", "stories")
        if "action" in step
    }
    for action in used:
        if action.startswith("utter_"):
            assert action in responses, action
        else:
            assert action in actions | forms | RASA_ACTIONS, action
    assert "utter_default" in responses  # the fallback's words
    # Every slot a form asks for has its question: a response or an action.
    for form, spec in DOMAIN["forms"].items():
        for slot in spec["required_slots"]:
            asks = {f"utter_ask_{slot}", f"utter_ask_{form}_{slot}", f"action_ask_{slot}"}
            assert asks & (responses | actions), (form, slot)
            assert slot in DOMAIN["slots"], slot


def test_every_entity_the_sample_extracts_is_declared() -> None:
    extracted = {
        item.get("regex") or item.get("lookup")
        for item in sample("data/nlu.yml")["nlu"]
        if "regex" in item or "lookup" in item
    }
    assert extracted <= set(DOMAIN["entities"])
    mapped = {
        mapping["entity"]
        for spec in DOMAIN["slots"].values()
        for mapping in spec["mappings"]
        if mapping["type"] == "from_entity"
    }
    assert mapped <= set(DOMAIN["entities"])


# --- Found in review -----------------------------------------------------------------------


async def test_a_sender_id_with_spaces_is_served_under_a_safe_key(
    services: Services, clock: MovableClock
) -> None:
    """Rasa's own Hangouts channel uses the user's displayName ("John Smith") as the sender
    id: it is served (keyed "rasa:b-..."), and Rasa's API is called with the real id."""
    assert sender_of(chat_of("John Smith")) == "John Smith"
    assert chat_of("u1") == "u1" and sender_of("u1") == "u1"
    assert chat_of("b-x") != "b-x" and sender_of(chat_of("b-x")) == "b-x"  # no clash
    assert re.fullmatch(r"[\w\-]+", chat_of("a/b c"))
    fake = FakeRasa()
    async with TestServer(fake.app()) as rasa_api:
        url = str(rasa_api.make_url("")).rstrip("/")
        async with server(services, connect(None), clock, rasa_url=url) as (world, rasa):
            agent = await world.add_agent("alice", display="Alice")
            result = await rasa.run(
                "action_shouwen_handoff", "John Smith", language="en", intent="human_agent"
            )
            assert kinds(result) == ["pause"]
            key = f"rasa:{chat_of('John Smith')}"
            assert [r.conversation for r in await world.handoff.handoffs.queue()] == [key]
            answer = await world.client.post(
                "/rasa/messages", json={"sender_id": "John Smith", "text": "still there?"}
            )
            assert answer.status == 200
            assert (await answer.json())["messages"][0]["recipient_id"] == "John Smith"
            await agent.accept(key)
            await world.domain.outbox.drain("t")
            assert fake.calls and {sender for sender, _q, _e in fake.calls} == {"John Smith"}


async def test_a_rejected_call_names_its_action(embedded: tuple[World, Rasa]) -> None:
    """Rasa 3.6's RemoteAction reads response_data["action_name"] from any 400."""
    world, _rasa = embedded
    body = (
        b'{"next_action": "action_shouwen_progress", "tracker": {"sender_id": "u1", "events": [1]}}'
    )
    response = await world.client.post(
        "/rasa/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json()).get("action_name") == "action_shouwen_progress"


async def test_a_chinese_word_holding_a_numeral_is_no_rating(embedded: tuple[World, Rasa]) -> None:
    """ "我想评价一下 C…" ("I'd like to rate C…") is no rating of 1 star: the user is asked."""
    world, rasa = embedded
    number = await complaint(rasa)
    await resolve(world, number)
    result = await rasa.run(
        "action_shouwen_rate",
        text=f"我想评价一下{number}",
        intent="rate_service",
        entities={"case_number": number},
    )
    case = await world.domain.cases.get(number)
    assert case is not None
    assert case.rating is None and case.callback is None, said(result)
    assert read_rating("我想评价一下") is None and read_rating("一下") is None
    assert read_rating("五星") == 5 and read_rating("给4分") == 4 and read_rating("4.0") == 4
    assert read_rating("非常不满意") == 1  # as the satisfaction flow reads it


@pytest.mark.parametrize(
    "header",
    ["X-Forwarded-For", "Forwarded", "X-Real-IP", "Via", "X-Forwarded-Host", "X-Forwarded-Proto"],
)
async def test_a_caller_relayed_by_a_local_proxy_is_not_this_machine(
    embedded: tuple[World, Rasa], header: str
) -> None:
    """nginx's plain `proxy_pass` adds no X-Forwarded-For (many configs set only X-Real-IP):
    without a token, any proxy header means "not this machine"."""
    world, _rasa = embedded
    response = await world.client.get("/rasa/actions", headers={header: "203.0.113.9"})
    assert response.status == 403
    assert (await world.client.get("/rasa/actions")).status == 200


def test_rasa_actions_does_not_write_the_token_to_its_access_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An access log line carries the request's `?token=`: `shouwen rasa-actions` has none,
    and listens on 127.0.0.1 unless told otherwise."""
    from bot import cli as shouwen_cli
    from connectors.rasa import cli

    seen: dict[str, Any] = {}

    def run_app(_app: web.Application, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(cli.web, "run_app", run_app)
    cli.main(Settings(rasa_token="s3cret"), argparse.Namespace(host="127.0.0.1", port=5055))
    assert "access_log" in seen and seen["access_log"] is None
    args = shouwen_cli._parser().parse_args(["rasa-actions"])
    assert args.host == "127.0.0.1"


async def test_without_a_rasa_url_a_handoff_does_not_pause_rasa_for_good(
    embedded: tuple[World, Rasa],
) -> None:
    """Without SHOUWEN_RASA_URL nothing could reach the paused user or resume Rasa: a
    callback case instead, or the hotline when no phone is known."""
    world, rasa = embedded
    result = await rasa.run(
        "action_shouwen_handoff", language="en", text="a person please", intent="human_agent"
    )
    assert "pause" not in kinds(result), said(result)
    assert "Our agents cannot take over this chat" in said(result)
    assert world.runtime.settings.hotline in said(result)
    assert await world.handoff.handoffs.queue() == []
    called = await rasa.run(
        "action_shouwen_handoff", language="en", intent="human_agent", slots={"phone": PHONE}
    )
    assert "pause" not in kinds(called)
    case = await world.domain.cases.get(slot_sets(called)["case_number"])
    assert case is not None and case.kind == "callback" and case.contact == PHONE
    assert f"We will call {PHONE} by" in said(called)


async def test_leaving_the_queue_while_rasa_is_down_resumes_it_later(
    services: Services, clock: MovableClock
) -> None:
    """/rasa/messages is no 500 when Rasa is down: the resume goes through the outbox."""
    fake = FakeRasa()
    async with TestServer(fake.app()) as rasa_api:
        url = str(rasa_api.make_url("")).rstrip("/")
        async with server(services, connect(None), clock, rasa_url=url) as (world, rasa):
            await world.add_agent("alice", display="Alice")
            handed = await rasa.run(
                "action_shouwen_handoff", language="en", text="agent", intent="human_agent"
            )
            assert "pause" in kinds(handed)
            await world.domain.outbox.drain("t")
            fake.down = True
            response = await world.client.post(
                "/rasa/messages", json={"sender_id": "u1", "payload": LEAVE}
            )
            assert response.status == 200, await response.text()
            assert (await response.json())["mode"] == "bot"
            fake.calls.clear()
            fake.down = False
            await world.domain.outbox.drain("t")
            events = [e for _s, _q, batch in fake.calls for e in batch]
            assert events == [{"event": "resume"}]


async def test_asking_twice_out_of_hours_opens_one_callback_case(
    embedded: tuple[World, Rasa],
) -> None:
    """Out of hours, asking for a person again reuses the conversation's open callback
    case (even when the tracker forgot its number)."""
    world, rasa = embedded
    world.clock.advance(12 * 3600)  # 22:00
    first = await rasa.run(
        "action_shouwen_handoff", language="en", intent="human_agent", slots={"phone": PHONE}
    )
    again = await rasa.run(
        "action_shouwen_handoff", language="en", intent="human_agent", slots={"phone": PHONE}
    )
    number = slot_sets(first)["case_number"]
    assert slot_sets(again).get("case_number") == number
    assert f"You have asked already: case {number}." in said(again)
    other = await rasa.run(
        "action_shouwen_handoff", "u2", language="en", intent="human_agent", slots={"phone": PHONE}
    )
    assert slot_sets(other)["case_number"] != number  # another conversation, unverified


def test_every_regex_and_lookup_of_the_sample_is_used_by_rasa() -> None:
    """Rasa 3.6's RegexEntityExtractor keeps a regex or lookup table only if its name is an
    entity annotated in some NLU example (TrainingData.entities)."""
    nlu = yaml.safe_load((SAMPLE / "data" / "nlu.yml").read_text(encoding="utf-8"))["nlu"]
    patterns = {item.get("regex") or item.get("lookup") for item in nlu}
    patterns -= {None}
    annotated = {
        name
        for item in nlu
        if "intent" in item
        for name in re.findall(r'\]\{"entity":\s*"(\w+)"|\]\((\w+)', item["examples"])
        for name in name
        if name
    }
    assert patterns <= annotated, sorted(patterns - annotated)
