"""Desk sign-in over HTTP: the cookie, CSRF on changes, roles, the socket's Origin, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from bot.services.agents import Agents, Sessions
from bot.store.client import RedisHandles
from connectors.desk.auth import DESK_SESSION, DeskAuth, require_supervisor
from connectors.errors import error_middleware
from tests.conftest import MovableClock as Clock

PASSWORD = "correct horse battery"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
Client = TestClient[Any, Any]


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"name": request[DESK_SESSION].agent.name})


async def supervisors_only(request: web.Request) -> web.Response:
    return web.json_response({"name": require_supervisor(request).name})


async def socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_json({"agent": request[DESK_SESSION].agent.name})
    await ws.close()
    return ws


async def page(request: web.Request) -> web.Response:
    return web.Response(text="the desk page")


@pytest.fixture
async def client(handles: RedisHandles, clock: Clock) -> AsyncIterator[Client]:
    agents = Agents(handles.commands, clock, hasher=CHEAP)
    await agents.add("wang.li", PASSWORD, "agent", display="王丽")
    await agents.add("zhao.yun", PASSWORD, "supervisor")
    auth = DeskAuth(agents, Sessions(handles.commands, agents, clock))
    app = web.Application(middlewares=[error_middleware, auth.middleware])
    app.add_routes(auth.routes())
    app.add_routes(
        [
            web.get("/desk", page),
            web.get("/desk/api/whoami", whoami),
            web.route("*", "/desk/api/change", whoami),
            web.get("/desk/api/supervisor/only", supervisors_only),
            web.get("/desk/ws", socket),
        ]
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def login(client: Client, name: str = "wang.li", **headers: str) -> tuple[Any, str]:
    """Sign in; the client's cookie jar keeps the session. Returns (response, csrf)."""
    response = await client.post(
        "/desk/api/login", json={"name": name, "password": PASSWORD}, headers=headers
    )
    assert response.status == 200, await response.text()
    return response, (await response.json())["csrf"]


async def error_of(response: Any, status: int) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body["error"]) == {"code", "message"}
    code: str = body["error"]["code"]
    return code


def set_cookie(response: Any) -> str:
    (header,) = response.headers.getall("Set-Cookie")
    assert isinstance(header, str)
    return header


async def test_login_answers_the_agent_and_sets_a_strict_cookie(client: Client) -> None:
    response, csrf = await login(client)
    body = await response.json()
    assert body["agent"] == {
        "name": "wang.li",
        "display": "王丽",
        "role": "agent",
        "team": "general",
    }
    assert len(csrf) >= 43
    assert response.headers["Cache-Control"] == "no-store"
    cookie = set_cookie(response)
    assert cookie.startswith("sw_desk=")
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
    assert "httponly" in attributes and "secure" not in attributes
    assert attributes["samesite"].strip() == "SameSite=Strict"
    assert attributes["path"].strip() == "Path=/desk"
    me = await client.get("/desk/api/me")
    assert me.status == 200
    assert await me.json() == {"agent": body["agent"], "csrf": csrf}


async def test_the_cookie_is_secure_behind_https(client: Client) -> None:
    response, _csrf = await login(client, **{"X-Forwarded-Proto": "https"})
    assert "; Secure" in set_cookie(response)


@pytest.mark.parametrize(
    ("name", "password"),
    [("wang.li", "not the password"), ("nobody", PASSWORD), ("Not A Name!", PASSWORD)],
)
async def test_bad_credentials_get_one_answer(client: Client, name: str, password: str) -> None:
    response = await client.post("/desk/api/login", json={"name": name, "password": password})
    assert await error_of(response, 401) == "bad_credentials"
    assert (await response.json())["error"]["message"] == "Wrong name or password."
    assert "Set-Cookie" not in response.headers


async def test_a_locked_name_gets_429(client: Client) -> None:
    for _ in range(5):
        response = await client.post(
            "/desk/api/login", json={"name": "wang.li", "password": "not the password"}
        )
        assert response.status == 401
    response = await client.post("/desk/api/login", json={"name": "wang.li", "password": PASSWORD})
    assert await error_of(response, 429) == "locked"
    assert response.headers["Retry-After"] == str(15 * 60)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'"wang.li"',
        b"{}",
        b'{"name": "wang.li"}',
        b'{"password": "correct horse battery"}',
        b'{"name": 7, "password": "correct horse battery"}',
        b'{"name": "wang.li", "password": null}',
        b'{"name": "' + b"w" * 65 + b'", "password": "correct horse battery"}',
        b'{"name": "wang.li", "password": "' + b"p" * 1025 + b'"}',
        b"\xff\xfe",
    ],
)
async def test_malformed_logins_are_400(client: Client, body: bytes) -> None:
    response = await client.post(
        "/desk/api/login", data=body, headers={"Content-Type": "application/json"}
    )
    await error_of(response, 400)


async def test_without_a_session_the_desk_answers_401(client: Client) -> None:
    assert await error_of(await client.get("/desk/api/me"), 401) == "unauthorized"
    assert await error_of(await client.get("/desk/api/whoami"), 401) == "unauthorized"
    assert await error_of(await client.post("/desk/api/logout"), 401) == "unauthorized"
    client.session.cookie_jar.update_cookies({"sw_desk": "made-up-token"})
    assert await error_of(await client.get("/desk/api/whoami"), 401) == "unauthorized"


async def test_the_page_and_the_login_need_no_session(client: Client) -> None:
    assert (await client.get("/desk")).status == 200


async def test_a_session_opens_the_desk(client: Client) -> None:
    await login(client)
    response = await client.get("/desk/api/whoami")
    assert response.status == 200 and await response.json() == {"name": "wang.li"}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_changes_need_the_csrf_token(client: Client, method: str) -> None:
    _response, csrf = await login(client)
    missing = await client.request(method, "/desk/api/change")
    assert await error_of(missing, 403) == "csrf"
    wrong = await client.request(method, "/desk/api/change", headers={"X-CSRF-Token": csrf[:-2]})
    assert await error_of(wrong, 403) == "csrf"
    odd = await client.request(method, "/desk/api/change", headers={"X-CSRF-Token": "é" * 43})
    assert await error_of(odd, 403) == "csrf"
    right = await client.request(method, "/desk/api/change", headers={"X-CSRF-Token": csrf})
    assert right.status == 200 and await right.json() == {"name": "wang.li"}


async def test_reading_needs_no_csrf_token(client: Client) -> None:
    await login(client)
    assert (await client.get("/desk/api/change")).status == 200


async def test_another_sessions_csrf_token_does_not_pass(client: Client) -> None:
    _response, first = await login(client)
    _response, second = await login(client)  # a second sign-in replaces the first session
    stale = await client.post("/desk/api/change", headers={"X-CSRF-Token": first})
    assert await error_of(stale, 403) == "csrf"
    fresh = await client.post("/desk/api/change", headers={"X-CSRF-Token": second})
    assert fresh.status == 200


async def test_logout_ends_the_session(client: Client) -> None:
    response, csrf = await login(client)
    token = response.cookies["sw_desk"].value
    assert await error_of(await client.post("/desk/api/logout"), 403) == "csrf"
    out = await client.post("/desk/api/logout", headers={"X-CSRF-Token": csrf})
    assert out.status == 204
    cleared = set_cookie(out)
    assert cleared.startswith('sw_desk=""') and "Max-Age=0" in cleared and "Path=/desk" in cleared
    assert await error_of(await client.get("/desk/api/me"), 401) == "unauthorized"
    client.session.cookie_jar.update_cookies({"sw_desk": token})  # a copy kept elsewhere
    assert await error_of(await client.get("/desk/api/me"), 401) == "unauthorized"


async def test_supervisor_routes_refuse_agents(client: Client) -> None:
    await login(client, "wang.li")
    response = await client.get("/desk/api/supervisor/only")
    assert await error_of(response, 403) == "forbidden"
    await login(client, "zhao.yun")
    response = await client.get("/desk/api/supervisor/only")
    assert response.status == 200 and await response.json() == {"name": "zhao.yun"}


async def test_the_socket_opens_from_this_site_only(client: Client) -> None:
    await login(client)
    here = f"http://{client.host}:{client.port}"
    async with client.ws_connect("/desk/ws", headers={"Origin": here}) as ws:
        assert await ws.receive_json() == {"agent": "wang.li"}
    for foreign in ("http://evil.example", f"https://{client.host}:{client.port + 1}", "null"):
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect("/desk/ws", headers={"Origin": foreign})
        assert refused.value.status == 403


async def test_the_socket_needs_a_session(client: Client) -> None:
    here = f"http://{client.host}:{client.port}"
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/desk/ws", headers={"Origin": here})
    assert refused.value.status == 401


async def test_a_socket_without_origin_is_not_a_browser_and_may_open(client: Client) -> None:
    # Browsers always send Origin on WebSockets; only they carry a victim's cookie.
    await login(client)
    async with client.ws_connect("/desk/ws") as ws:
        assert await ws.receive_json() == {"agent": "wang.li"}
