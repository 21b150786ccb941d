"""Desk sign-in: login, logout and "who am I", and the middleware guarding the desk.

The browser holds the session token only in an HttpOnly, SameSite=Strict cookie scoped to
/desk: page scripts cannot read it and other sites' pages do not send it. Every change
(POST, PUT, PATCH, DELETE) must also carry the session's CSRF token in a header, which only
our own page learns (from the login or /me answer), in case a browser ignores SameSite
(OWASP CSRF cheat sheet, "synchronizer token"). Browsers apply no CORS to WebSockets, so the
desk's socket must come from a page of this very host (its Origin), or anyone's page could
open it with the agent's cookie.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import hdrs, web
from yarl import URL

from bot.services.agents import MAX_PASSWORD_CHARS, Agent, Agents, LoginLocked, Session, Sessions
from connectors.errors import ApiError, Handler, error_response
from connectors.webchat.contract import decode_json

log = logging.getLogger(__name__)

COOKIE = "sw_desk"
COOKIE_PATH = "/desk"
CSRF_HEADER = "X-CSRF-Token"
API_PREFIX = "/desk/api/"
LOGIN_PATH = "/desk/api/login"
SOCKET_PATH = "/desk/ws"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Names are at most 32 characters; anything much longer is not a typo but a bad client.
MAX_NAME_CHARS = 64

DESK_SESSION = web.RequestKey("desk_session", Session)
"""The signed-in session of a request under /desk/api/ or /desk/ws (set by the middleware)."""


def require_supervisor(request: web.Request) -> Agent:
    """The signed-in supervisor; a 403 for anyone else."""
    session: Session | None = request.get(DESK_SESSION)
    if session is None:
        raise ApiError(401, "unauthorized", "Sign in to the desk first.")
    if not session.agent.is_supervisor:
        raise ApiError(403, "forbidden", "Only supervisors may do this.")
    return session.agent


class DeskAuth:
    """The sign-in routes and the middleware that admits requests to the rest of the desk."""

    def __init__(self, agents: Agents, sessions: Sessions) -> None:
        self._agents = agents
        self._sessions = sessions

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(LOGIN_PATH, self.login),
            web.post("/desk/api/logout", self.logout),
            web.get("/desk/api/me", self.me),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Admit a request under /desk/api/ (but login) or /desk/ws, or answer 401/403."""
        path = request.path
        if path == LOGIN_PATH or not (path.startswith(API_PREFIX) or path == SOCKET_PATH):
            return await handler(request)
        if path == SOCKET_PATH and not _same_origin(request):
            return error_response(403, "foreign_origin", "The desk opens only from its own site.")
        session = await self._sessions.find(request.cookies.get(COOKIE, ""))
        if session is None:
            return error_response(401, "unauthorized", "Sign in to the desk first.")
        if request.method in UNSAFE_METHODS and not _csrf_matches(request, session):
            return error_response(403, "csrf", f"Missing or wrong {CSRF_HEADER} header.")
        request[DESK_SESSION] = session
        return await handler(request)

    async def login(self, request: web.Request) -> web.Response:
        name, password = _credentials(decode_json(await request.read()))
        try:
            agent = await self._agents.check(name, password)
        except LoginLocked as locked:
            response = error_response(
                429, "locked", "Too many failed sign-ins for this name; try again later."
            )
            response.headers[hdrs.RETRY_AFTER] = str(locked.retry_after)
            return response
        if agent is None:
            # One answer for an unknown name and a wrong password: names stay private.
            raise ApiError(401, "bad_credentials", "Wrong name or password.")
        previous = request.cookies.get(COOKIE)
        if previous:
            await self._sessions.end(previous)
        token, csrf = await self._sessions.start(agent)
        response = _private_json({"agent": agent.as_dict(), "csrf": csrf})
        response.set_cookie(
            COOKIE,
            token,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=_secure(request) or None,
        )
        log.info("desk sign-in by %s", agent.name)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        await self._sessions.end(request.cookies.get(COOKIE, ""))
        response = web.Response(status=204)
        response.del_cookie(
            COOKIE,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=_secure(request) or None,
        )
        return response

    async def me(self, request: web.Request) -> web.Response:
        session = request[DESK_SESSION]
        return _private_json({"agent": session.agent.as_dict(), "csrf": session.csrf})


def _credentials(body: object) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object.")
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise ApiError(400, "invalid_field", "“name” and “password” must be strings.")
    if len(name) > MAX_NAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        raise ApiError(400, "invalid_field", "“name” or “password” is too long.")
    return name.strip(), password


def _private_json(body: object) -> web.Response:
    # It carries the CSRF token: no cache may keep a copy.
    return web.json_response(body, headers={hdrs.CACHE_CONTROL: "no-store"})


def _csrf_matches(request: web.Request, session: Session) -> bool:
    sent = request.headers.get(CSRF_HEADER, "").encode("utf-8", "replace")
    return hmac.compare_digest(sent, session.csrf.encode())


def _secure(request: web.Request) -> bool:
    """Whether the browser reached us over https (directly or through a TLS proxy)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    return request.secure or forwarded.split(",")[0].strip().lower() == "https"


def _same_origin(request: web.Request) -> bool:
    """Whether the page opening the socket is of this host. A request without Origin is not
    from a browser (browsers always send it on WebSockets) and cannot ride a victim's cookie."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return True
    try:
        sent = URL(origin)
        # The Host's default port follows the page's scheme, also behind a TLS proxy.
        here = URL.build(scheme=sent.scheme, authority=request.host)
    except (ValueError, TypeError):
        return False
    return (
        sent.scheme in ("http", "https")
        and sent.host is not None
        and (sent.host, sent.port) == (here.host, here.port)
    )
