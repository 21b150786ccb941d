"""The web chat contract over HTTP and WebSocket, bad input included, on both stores."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from bot.app import RUNTIME, build_app, build_runtime
from bot.dialog import Services
from bot.settings import Settings
from bot.state import ConversationState
from bot.store.client import RedisHandles, connect
from bot.store.conversations import NewEntry
from tests.conftest import free_port


@pytest.fixture
async def client(
    settings: Settings, services: Services, handles: RedisHandles
) -> AsyncIterator[TestClient[Any, Any]]:
    app = build_app(build_runtime(settings, services=services, redis=handles))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def post(client: TestClient[Any, Any], **body: Any) -> Any:
    response = await client.post("/api/chat/messages", json=body)
    assert response.status == 200, await response.text()
    return await response.json()


async def error_of(response: Any, status: int) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body["error"]) == {"code", "message"}
    code: str = body["error"]["code"]
    return code


async def test_a_conversation_starts_and_continues(client: TestClient[Any, Any]) -> None:
    first = await post(client, text="国际漫游怎么开通")
    conversation = first["conversation"]
    assert len(conversation) >= 32
    assert first["mode"] == "bot" and first["locale"] == "zh"
    assert first["echo"]["role"] == "customer" and first["echo"]["seq"] == 1
    reply = first["replies"][0]
    assert reply["seq"] == 2 and reply["role"] == "bot" and "漫游" in reply["text"]
    assert all(set(b) == {"title", "payload"} for b in reply["buttons"])
    button = reply["buttons"][0]
    second = await post(
        client, conversation=conversation, text=button["title"], payload=button["payload"]
    )
    assert second["conversation"] == conversation
    assert second["replies"][0]["seq"] > reply["seq"]


async def test_accept_language_sets_the_language(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        "/api/chat/messages", json={"text": "5G"}, headers={"Accept-Language": "en-US,en;q=0.9"}
    )
    assert (await response.json())["locale"] == "en"


async def test_a_retried_message_is_answered_once(client: TestClient[Any, Any]) -> None:
    first = await post(client, text="宽带很慢", id="msg-1")
    again = await post(client, conversation=first["conversation"], text="宽带很慢", id="msg-1")
    assert again["replies"] == first["replies"]
    events = await client.get(f"/api/chat/{first['conversation']}/events?after=0")
    body = await events.json()
    assert len([e for e in body["events"] if e["role"] == "customer"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"\xff\xfe\x00", 400, "malformed_json"),
        (b"[1, 2]", 400, "invalid_body"),
        (b'"text"', 400, "invalid_body"),
        (b"{}", 422, "empty_message"),
        (b'{"text": "   "}', 422, "empty_message"),
        (b'{"text": 42}', 422, "invalid_field"),
        (b'{"text": "hi", "payload": ["x"]}', 422, "invalid_field"),
        (b'{"text": "hi", "id": "<script>"}', 422, "invalid_field"),
        (json.dumps({"text": "长" * 10_000}).encode(), 422, "text_too_long"),
        (json.dumps({"text": "x" * 2001}).encode(), 422, "text_too_long"),
        (b"[" * 60_000, 400, "malformed_json"),
        (b'{"text": "hi", "n": ' + b"1" * 5000 + b"}", 400, "malformed_json"),
        (b'{"text": "hi", "conversation": "does-not-exist-0000000"}', 404, "unknown_conversation"),
        (b'{"text": "hi", "conversation": "../../etc"}', 404, "unknown_conversation"),
        (b'{"text": "hi", "conversation": 7}', 404, "unknown_conversation"),
    ],
)
async def test_bad_messages_get_a_clear_4xx(
    client: TestClient[Any, Any], body: bytes, status: int, code: str
) -> None:
    response = await client.post(
        "/api/chat/messages", data=body, headers={"Content-Type": "application/json"}
    )
    assert await error_of(response, status) == code


async def test_a_body_over_the_limit_is_413(client: TestClient[Any, Any]) -> None:
    big = json.dumps({"text": "x" * 100_000})
    response = await client.post(
        "/api/chat/messages", data=big, headers={"Content-Type": "application/json"}
    )
    assert await error_of(response, 413) == "too_large"


@pytest.mark.parametrize("text", ["😀🎉", "<script>alert(1)</script>", "a\x00b\x1bc", "x" * 2000])
async def test_odd_text_gets_a_polite_reply(client: TestClient[Any, Any], text: str) -> None:
    body = await post(client, text=text)
    assert body["replies"] and body["replies"][0]["text"]
    assert "\x00" not in body["echo"]["text"]


async def test_script_text_comes_back_as_data(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/chat/messages", json={"text": "<script>alert(1)</script>"})
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["echo"]["text"] == "<script>alert(1)</script>"


async def test_long_poll_returns_entries_after_a_seq(client: TestClient[Any, Any]) -> None:
    first = await post(client, text="你好")
    conversation = first["conversation"]
    response = await client.get(f"/api/chat/{conversation}/events?after=1")
    body = await response.json()
    assert [e["seq"] for e in body["events"]] == [2]
    assert body["last"] == 2 and body["mode"] == "bot"


async def test_long_poll_wakes_when_something_arrives(client: TestClient[Any, Any]) -> None:
    first = await post(client, text="你好")
    conversation, last = first["conversation"], first["replies"][-1]["seq"]
    waiting = asyncio.create_task(
        client.get(f"/api/chat/{conversation}/events?after={last}&wait=20")
    )
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await post(client, conversation=conversation, text="谢谢")
    response = await asyncio.wait_for(waiting, 10)
    body = await response.json()
    assert body["events"][0]["seq"] == last + 1


async def test_long_poll_reports_the_mode_after_its_wait(client: TestClient[Any, Any]) -> None:
    first = await post(client, text="你好")
    conversation, last = first["conversation"], first["replies"][-1]["seq"]
    waiting = asyncio.create_task(
        client.get(f"/api/chat/{conversation}/events?after={last}&wait=20")
    )
    await asyncio.sleep(0.2)
    # Meanwhile the conversation goes to the queue (as a handoff does) and says so.
    store = client.app[RUNTIME].store
    key = f"web:{conversation}"
    assert (await store.claim(key, "token", None)).status == "ok"
    queued = ConversationState(mode="queued").to_json()
    entry = NewEntry("system", "queued", 0.0)
    await store.save(key, token="token", state=queued, message_id=None, entries=[entry])
    body = await (await asyncio.wait_for(waiting, 10)).json()
    assert body["events"][0]["seq"] == last + 1 and body["mode"] == "queued"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/chat/nope-nope-nope-nope/events", 404, "unknown_conversation"),
        ("/api/chat/x/events", 404, "unknown_conversation"),
    ],
)
async def test_events_of_unknown_conversations_are_404(
    client: TestClient[Any, Any], path: str, status: int, code: str
) -> None:
    assert await error_of(await client.get(path), status) == code


@pytest.mark.parametrize(
    "query",
    ["after=-1", "after=abc", "wait=999", "wait=1.5", "after=²", "wait=³", "after=" + "9" * 5000],
)
async def test_bad_event_queries_are_400(client: TestClient[Any, Any], query: str) -> None:
    conversation = (await post(client, text="你好"))["conversation"]
    response = await client.get(f"/api/chat/{conversation}/events?{query}")
    assert await error_of(response, 400) == "invalid_query"


async def receive(ws: ClientWebSocketResponse, kind: str, seconds: float = 10) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.receive(), seconds)
        assert message.type == WSMsgType.TEXT, message
        data: dict[str, Any] = json.loads(message.data)
        if data["type"] == kind:
            return data


async def test_socket_greets_answers_and_resumes_without_loss(
    client: TestClient[Any, Any],
) -> None:
    ws = await client.ws_connect("/api/chat/ws?locale=zh-CN")
    hello = await receive(ws, "hello")
    conversation = hello["conversation"]
    welcome = await receive(ws, "event")
    assert welcome["event"]["seq"] == 1 and welcome["event"]["role"] == "bot"
    await ws.send_json({"type": "message", "id": "c-1", "text": "宽带装机要多少钱"})
    typing = await receive(ws, "typing")
    assert typing["on"] is True
    echo = await receive(ws, "event")
    assert echo["event"]["client_id"] == "c-1" and echo["event"]["seq"] == 2
    answer = await receive(ws, "event")
    assert answer["event"]["seq"] == 3
    await ws.close()
    # While the socket is away, more happens (a message from another tab).
    await post(client, conversation=conversation, text="谢谢")
    ws = await client.ws_connect(f"/api/chat/ws?conversation={conversation}&after=3")
    hello = await receive(ws, "hello")
    assert hello["conversation"] == conversation and hello["last"] >= 5
    missed = [await receive(ws, "event"), await receive(ws, "event")]
    assert [m["event"]["seq"] for m in missed] == [4, 5]
    await ws.close()


async def test_socket_resent_message_is_not_repeated(client: TestClient[Any, Any]) -> None:
    ws = await client.ws_connect("/api/chat/ws")
    await receive(ws, "hello")
    await receive(ws, "event")
    for _ in range(2):
        await ws.send_json({"type": "message", "id": "same-id", "text": "你好"})
    seqs = []
    for _ in range(2):
        seqs.append((await receive(ws, "event"))["event"]["seq"])
    await ws.send_json({"type": "message", "id": "next", "text": "谢谢"})
    seqs.append((await receive(ws, "event"))["event"]["seq"])
    assert seqs == [2, 3, 4]  # the resent message produced nothing new
    await ws.close()


async def test_socket_bad_frames_get_errors_and_the_socket_stays(
    client: TestClient[Any, Any],
) -> None:
    ws = await client.ws_connect("/api/chat/ws")
    await receive(ws, "hello")
    await ws.send_str("{nope")
    assert (await receive(ws, "error"))["error"]["code"] == "malformed_json"
    await ws.send_json({"type": "message"})
    assert (await receive(ws, "error"))["error"]["code"] == "empty_message"
    await ws.send_json({"type": "message", "text": "长" * 5000})
    assert (await receive(ws, "error"))["error"]["code"] == "text_too_long"
    await ws.send_json({"type": "message", "id": "ok", "text": "你好"})
    assert (await receive(ws, "typing"))["on"] is True
    await ws.close()


async def test_socket_with_unknown_conversation_says_so(client: TestClient[Any, Any]) -> None:
    ws = await client.ws_connect("/api/chat/ws?conversation=unknown-unknown-unknown")
    error = await receive(ws, "error")
    assert error["error"]["code"] == "unknown_conversation"


async def test_nlu_parse_has_rasa_shape(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/nlu/parse", json={"text": "我要投诉，信号太差了"})
    body = await response.json()
    assert set(body) >= {"text", "intent", "intent_ranking", "entities"}
    assert body["intent"]["name"] == "file_complaint"
    assert 0 <= body["intent"]["confidence"] <= 1
    english = await client.post(
        "/api/nlu/parse", json={"text": "call me at 13800138000", "locale": "en-US"}
    )
    entities = (await english.json())["entities"]
    assert {"entity": "phone", "value": "13800138000"}.items() <= entities[0].items()
    surrogate = await client.post(
        "/api/nlu/parse",
        data='{"text": "\\ud800 hi"}',
        headers={"Content-Type": "application/json"},
    )
    assert surrogate.status == 200
    bad = await client.post("/api/nlu/parse", json={"text": None})
    assert await error_of(bad, 422) == "invalid_field"


async def test_health_and_metrics(client: TestClient[Any, Any]) -> None:
    await post(client, text="你好")
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok" and health["redis"] is True
    metrics = await (await client.get("/metrics")).text()
    assert 'shouwen_turns_total{channel="web",outcome="ok"}' in metrics
    assert "shouwen_turn_seconds_bucket" in metrics
    assert "shouwen_store_up 1.0" in metrics


async def test_turns_are_counted_where_metrics_reads_them(
    settings: Settings, services: Services, handles: RedisHandles
) -> None:
    without = dataclasses.replace(services, metrics=None)  # e.g. services loaded elsewhere
    app = build_app(build_runtime(settings, services=without, redis=handles))
    async with TestClient(TestServer(app)) as test_client:
        await post(test_client, text="你好")
        metrics = await (await test_client.get("/metrics")).text()
    assert 'shouwen_turns_total{channel="web",outcome="ok"} 1.0' in metrics


async def test_redis_down_gives_503_and_the_server_stays_up(
    settings: Settings, services: Services
) -> None:
    handles = connect(f"redis://127.0.0.1:{free_port()}/0")
    app = build_app(build_runtime(settings, services=services, redis=handles))
    async with TestClient(TestServer(app)) as test_client:
        response = await test_client.post("/api/chat/messages", json={"text": "你好"})
        assert await error_of(response, 503) == "unavailable"
        health = await test_client.get("/health")
        assert health.status == 503 and (await health.json())["redis"] is False
        page = await test_client.get("/")
        assert page.status == 200


async def test_demo_page_and_widget_are_served(client: TestClient[Any, Any]) -> None:
    page = await client.get("/")
    assert page.status == 200 and "/widget.js" in await page.text()
    script = await client.get("/widget.js")
    assert script.status == 200 and "javascript" in script.content_type
    source = await script.text()
    # The widget's own words come from the catalogs, filled in as it is served.
    assert "/*@strings*/" not in source
    assert "星联通信 在线客服" in source and "StarLink Support" in source
    style = await client.get("/widget.css")
    assert style.status == 200


async def test_a_retried_first_message_joins_the_same_conversation(
    client: TestClient[Any, Any],
) -> None:
    long_id = "a3f9c2e17b5d4e60" * 2
    first = await post(client, text="宽带很慢", id=long_id)
    again = await post(client, text="宽带很慢", id=long_id)  # the client never got its id
    assert again["conversation"] == first["conversation"]
    assert again["replies"] == first["replies"]


async def test_a_guessable_or_reused_first_message_id_joins_nobody(
    client: TestClient[Any, Any],
) -> None:
    # Two naive clients numbering their first message "1" must not share a conversation.
    first = await post(client, text="我的账单", id="1")
    other = await post(client, text="我的账单", id="1")
    assert other["conversation"] != first["conversation"]
    # A long id with a different message is a different message.
    long_id = "0123456789abcdef" * 2
    mine = await post(client, text="宽带很慢", id=long_id)
    theirs = await post(client, text="查话费", id=long_id)
    assert theirs["conversation"] != mine["conversation"]


async def test_a_long_poll_ahead_of_the_server_learns_the_real_last(
    client: TestClient[Any, Any],
) -> None:
    first = await post(client, text="你好")
    response = await client.get(f"/api/chat/{first['conversation']}/events?after=1000")
    assert (await response.json())["last"] == 2


async def test_socket_resume_ahead_of_the_server_still_delivers(
    client: TestClient[Any, Any],
) -> None:
    conversation = (await post(client, text="你好"))["conversation"]
    ws = await client.ws_connect(f"/api/chat/ws?conversation={conversation}&after=1000")
    hello = await receive(ws, "hello")
    assert hello["last"] == 2
    await ws.send_json({"type": "message", "id": "x1", "text": "谢谢"})
    echo = await receive(ws, "event")
    assert echo["event"]["seq"] == 3 and echo["event"]["client_id"] == "x1"
    await ws.close()


@pytest.mark.parametrize("query", ["after=²", "after=" + "9" * 5000, "after=-3"])
async def test_socket_with_a_bad_cursor_says_so(client: TestClient[Any, Any], query: str) -> None:
    ws = await client.ws_connect(f"/api/chat/ws?{query}")
    assert (await receive(ws, "error"))["error"]["code"] == "invalid_query"


async def test_socket_survives_hostile_frames(client: TestClient[Any, Any]) -> None:
    ws = await client.ws_connect("/api/chat/ws")
    await receive(ws, "hello")
    await ws.send_str("[" * 60_000)
    assert (await receive(ws, "error"))["error"]["code"] == "malformed_json"
    await ws.send_str('{"type": "message", "n": ' + "1" * 5000 + "}")
    assert (await receive(ws, "error"))["error"]["code"] == "malformed_json"
    await ws.send_bytes(b"\x00\x01")
    assert (await receive(ws, "error"))["error"]["code"] == "invalid_body"
    await ws.send_json({"type": "message", "id": "ok-1", "text": "x" * 2001})
    error = await receive(ws, "error")
    assert error["error"]["code"] == "text_too_long" and error["id"] == "ok-1"
    await ws.send_json({"type": "message", "id": "ok-2", "text": "你好"})
    assert (await receive(ws, "typing"))["on"] is True
    await ws.close()


async def test_socket_catches_up_more_than_one_page(client: TestClient[Any, Any]) -> None:
    from bot.app import RUNTIME
    from bot.store.conversations import READ_PAGE, NewEntry

    conversation = (await post(client, text="你好"))["conversation"]
    store = client.app[RUNTIME].store
    missed = READ_PAGE * 2 + 17
    await store.append(
        f"web:{conversation}", [NewEntry("agent", f"n{i}", 1.0) for i in range(missed)]
    )
    ws = await client.ws_connect(f"/api/chat/ws?conversation={conversation}&after=2")
    await receive(ws, "hello")
    seqs = [(await receive(ws, "event"))["event"]["seq"] for _ in range(missed)]
    assert seqs == list(range(3, 3 + missed))
    await ws.close()
