"""The desk API behind its sign-in: who may see and do what, bad input, customer text as
data, the supervisor's SLA view and the counters on /metrics."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.services.sla import job_id
from connectors.desk.auth import COOKIE
from tests.desk_world import AgentDesk, World, receive_until

HTML = '<script>alert("x")</script><img src=x onerror=alert(1)> & <b>宽带</b>'


async def error_of(response: Any, status: int) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body["error"]) == {"code", "message"}
    code: str = body["error"]["code"]
    return code


async def held_by(world: World, agent: AgentDesk, locale: str = "en") -> tuple[str, str]:
    """A customer queued and taken by `agent`: (conversation, case number)."""
    chat = world.chat(locale)
    number = await world.queue_up(chat, "human" if locale == "en" else "转人工")
    await agent.accept(chat.key)
    return chat.key, number


# --- Sign-in, CSRF, roles ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/desk/api/queue"),
        ("GET", "/desk/api/conversations"),
        ("GET", "/desk/api/conversations/web:abc"),
        ("POST", "/desk/api/conversations/web:abc/accept"),
        ("POST", "/desk/api/conversations/web:abc/messages"),
        ("GET", "/desk/api/cases/C2611230001"),
        ("GET", "/desk/api/supervisor/overview"),
        ("GET", "/desk/api/supervisor/charts/handoffs.svg"),
        ("GET", "/desk/ws"),
    ],
)
async def test_the_desk_answers_401_without_a_session(
    either: World, method: str, path: str
) -> None:
    response = await either.client.request(method, path, json={"text": "hi"})
    assert await error_of(response, 401) == "unauthorized"
    forged = await either.client.request(
        method, path, json={"text": "hi"}, headers={"Cookie": f"{COOKIE}=forged-token"}
    )
    assert await error_of(forged, 401) == "unauthorized"


async def test_changes_need_the_csrf_header(either: World) -> None:
    wang = await either.add_agent("wang")
    chat = either.chat("en")
    await either.queue_up(chat, "human")
    path = f"/desk/api/conversations/{chat.key}/accept"
    assert await error_of(await wang.post(path, csrf=False), 403) == "csrf"
    headers = {**wang.headers(csrf=False), "X-CSRF-Token": "not-the-token"}
    assert await error_of(await either.client.post(path, headers=headers), 403) == "csrf"
    assert (await either.record(chat)).state == "queued"  # nothing happened
    assert (await wang.post(path)).status == 200


async def test_an_agent_sees_the_queue_and_their_own_only(world: World) -> None:
    wang = await world.add_agent("wang")
    li = await world.add_agent("li")
    boss = await world.add_agent("zhao", "supervisor")
    waiting = world.chat("en")
    await world.queue_up(waiting, "human")
    assert (await li.get(f"/desk/api/conversations/{waiting.key}")).status == 200
    conversation, number = await held_by(world, wang)
    for path in (f"/desk/api/conversations/{conversation}", f"/desk/api/cases/{number}"):
        assert await error_of(await li.get(path), 403) == "forbidden"
        assert (await wang.get(path)).status == 200
        assert (await boss.get(path)).status == 200
    refused = [
        (f"/desk/api/conversations/{conversation}/messages", {"text": "hello"}),
        (f"/desk/api/conversations/{conversation}/handback", {"rate": False}),
        (f"/desk/api/conversations/{conversation}/resolve", {"note": "done"}),
        (f"/desk/api/conversations/{conversation}/transfer", {"agent": "li", "note": ""}),
        (f"/desk/api/cases/{number}/state", {"to": "in_progress", "note": ""}),
        (f"/desk/api/cases/{number}/notes", {"note": "peek"}),
    ]
    for path, body in refused:
        assert await error_of(await li.post(path, body), 403) == "forbidden", path
    mine = await li.ok("GET", "/desk/api/conversations")
    assert mine["held"] == []
    case = await world.domain.cases.get(number)
    assert case is not None and case.state == "assigned" and case.owner == "wang"


async def test_the_desk_socket_will_not_follow_a_conversation_of_another_agent(
    world: World,
) -> None:
    wang = await world.add_agent("wang")
    li = await world.add_agent("li")
    conversation, _number = await held_by(world, wang)
    ws = await li.socket()
    try:
        await ws.send_json({"type": "watch", "conversation": conversation, "after": 0})
        refused = await receive_until(ws, lambda d: d["type"] == "error")
        assert refused["code"] == "forbidden"
        await ws.send_str("[" * 3000)
        broken = await receive_until(ws, lambda d: d["type"] == "error")
        assert broken["code"] == "malformed_json"  # the web chat's code for it too
        await ws.send_json({"type": "ping"})
        await receive_until(ws, lambda d: d["type"] == "pong")
    finally:
        await ws.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/desk/api/cases/{number}/owner", {"owner": "wang", "reason": "mine now"}),
        ("GET", "/desk/api/supervisor/overview", None),
        ("GET", "/desk/api/supervisor/charts/handoffs.svg", None),
        ("GET", "/desk/api/supervisor/charts/sla.svg", None),
    ],
)
async def test_supervisor_routes_refuse_agents(
    world: World, method: str, path: str, body: dict[str, str] | None
) -> None:
    wang = await world.add_agent("wang")
    boss = await world.add_agent("zhao", "supervisor")
    _conversation, number = await held_by(world, wang)
    path = path.format(number=number)
    as_agent = await (wang.get(path) if method == "GET" else wang.post(path, body))
    assert await error_of(as_agent, 403) == "forbidden"
    as_supervisor = await (boss.get(path) if method == "GET" else boss.post(path, body))
    assert as_supervisor.status == 200, await as_supervisor.text()
    if path.endswith(".svg"):
        assert as_supervisor.content_type == "image/svg+xml"
        assert "<svg" in await as_supervisor.text()


# --- Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe\x00", 400),
        (b"[1, 2]", 400),
        (b'"text"', 400),
        (b"[" * 60_000, 400),
        (b'{"text": ' + b"1" * 5000 + b"}", 400),
        (b"{}", 422),
        (b'{"text": 42}', 422),
        (b'{"text": "   "}', 422),
        (json.dumps({"text": "x" * 2001}).encode(), 422),
        (json.dumps({"text": "x" * 100_000}).encode(), 413),
    ],
)
async def test_bad_bodies_get_a_clear_4xx(world: World, body: bytes, status: int) -> None:
    wang = await world.add_agent("wang")
    conversation, _number = await held_by(world, wang)
    response = await wang.post(f"/desk/api/conversations/{conversation}/messages", data=body)
    await error_of(response, status)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/desk/api/presence", {"status": "asleep"}),
        ("/desk/api/presence", {"status": ["online"]}),
        ("/desk/api/conversations/{cid}/transfer", {"agent": "nobody", "note": ""}),
        ("/desk/api/conversations/{cid}/transfer", {"note": "no one"}),
        ("/desk/api/conversations/{cid}/canned", {"id": "no-such-reply"}),
        ("/desk/api/cases/{number}/state", {"to": "flying", "note": ""}),
        ("/desk/api/cases/{number}/state", {"to": "closed", "note": ""}),
        ("/desk/api/cases/{number}/notes", {"note": "x" * 1001}),
        ("/desk/api/customers/nobody/reveal", {"reason": "curious"}),
        ("/desk/api/conversations/web:nobody/accept", {}),
    ],
)
async def test_bad_requests_are_4xx_not_500(world: World, path: str, body: dict[str, Any]) -> None:
    wang = await world.add_agent("wang")
    conversation, number = await held_by(world, wang)
    response = await wang.post(path.format(cid=conversation, number=number), body)
    assert 400 <= response.status < 500, await response.text()
    await error_of(response, response.status)


async def test_customer_html_comes_back_as_data_unchanged(world: World) -> None:
    wang = await world.add_agent("wang")
    chat = world.chat("en")
    await world.queue_up(chat, "human")
    await chat.say(HTML)
    queue = await wang.ok("GET", "/desk/api/queue")
    assert queue["entries"][0]["preview"] == HTML[:80]
    await wang.accept(chat.key)
    await chat.say(HTML)
    response = await wang.get(f"/desk/api/conversations/{chat.key}")
    assert response.content_type == "application/json"
    body = await response.json()
    customer = [e["text"] for e in body["entries"] if e["role"] == "customer"]
    assert customer[-2:] == [HTML, HTML]
    # And the agent's own markup reaches the customer's feed as text, unchanged, too.
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/messages", {"text": HTML})
    assert (await chat.events())[-1]["text"] == HTML


# --- SLA wiring, the supervisor's view, metrics ------------------------------------------------


async def test_a_case_opened_by_a_flow_gets_its_sla_clock_and_the_overview_follows(
    world: World,
) -> None:
    boss = await world.add_agent("zhao", "supervisor")
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    case = await world.domain.cases.get(number)
    assert case is not None
    span = case.due["response"] - case.created
    scheduler = world.domain.scheduler
    assert await scheduler.when(job_id(number, "response", "warn")) == case.created + 0.8 * span
    assert await scheduler.when(job_id(number, "response", "breach")) == case.due["response"]

    def listed(overview: dict[str, Any]) -> dict[str, list[str]]:
        return {k: [c["number"] for c in v] for k, v in overview["cases"].items()}

    overview = await boss.ok("GET", "/desk/api/supervisor/overview")
    assert listed(overview) == {"on_time": [number], "warned": [], "breached": []}
    assert overview["queue"][0]["conversation"] == chat.key
    assert overview["today"]["handoffs"] >= 1
    world.clock.advance(0.8 * span + 60)
    boss = await world.login("zhao")  # the session sat idle longer than it may
    overview = await boss.ok("GET", "/desk/api/supervisor/overview")
    assert listed(overview) == {"on_time": [], "warned": [number], "breached": []}
    assert overview["cases"]["warned"][0]["sla"] == "warned"
    detail = await boss.ok("GET", f"/desk/api/cases/{number}")
    assert detail["case"]["sla"] == "warned"
    assert 0 < detail["case"]["remaining"]["response"] < 0.2 * span
    # The warning itself fires once, to the supervisors while the case has no owner.
    assert await world.fire_due() >= 1
    event = await world.bus_events.wait(
        lambda e: e.kind == "alert" and e.data.get("level") == "warn"
    )
    assert event.to == "role:supervisor" and event.data["case"] == number


async def test_accepting_meets_the_response_due_and_drops_its_alerts(world: World) -> None:
    wang = await world.add_agent("wang")
    conversation, number = await held_by(world, wang)
    scheduler = world.domain.scheduler
    assert await scheduler.when(job_id(number, "response", "warn")) is None
    assert await scheduler.when(job_id(number, "response", "breach")) is None
    case = await world.domain.cases.get(number)
    assert case is not None and world.runtime.desk.sla.sla_state(case) == "on_time"
    assert conversation in await world.handoff.handoffs.held_by("wang")


def sample(page: str, name: str, **labels: str) -> float:
    """The value of one sample on a Prometheus page (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.compile(rf"^{re.escape(name)}\{{([^}}]*)\}} (\S+)$", re.MULTILINE)
    for found in pattern.finditer(page):
        have = ",".join(sorted(found.group(1).split(",")))
        if have == wanted:
            return float(found.group(2))
    return 0.0


async def test_metrics_count_handoffs_and_the_sla_clock(world: World) -> None:
    async def page() -> str:
        response = await world.client.get("/metrics")
        assert response.status == 200
        return await response.text()

    before = await page()
    chat = world.chat("en")
    number = await world.queue_up(chat, "human")
    case = await world.domain.cases.get(number)
    assert case is not None
    world.clock.advance(case.due["response"] - world.clock.now + 1)
    assert await world.fire_due() >= 2  # the warning, then the breach
    after = await page()
    for name, labels in [
        ("shouwen_handoffs_total", {"reason": "asked"}),
        ("shouwen_sla_warnings_total", {"due": "response"}),
        ("shouwen_sla_breaches_total", {"due": "response"}),
    ]:
        assert sample(after, name, **labels) == sample(before, name, **labels) + 1, name
    # A day later the silent customer has left the queue; they ask again and are answered
    # late: the response due is met, late.
    wang = await world.add_agent("wang")
    assert await world.queue_up(chat, "human") == number
    await wang.accept(chat.key)
    late = await page()
    assert sample(late, "shouwen_sla_met_total", due="response", on_time="false") == (
        sample(after, "shouwen_sla_met_total", due="response", on_time="false") + 1
    )
