"""HTTP errors as JSON `{"error": {"code", "message"}}`; our exceptions mapped to 4xx/503."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.errors import ConversationBusy, StoreUnavailable, UnknownConversation

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A client mistake, answered with `status` and a stable `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False)
    return web.Response(status=status, text=body, content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.code, error.message)
    except UnknownConversation:
        return error_response(404, "unknown_conversation", "No such conversation.")
    except ConversationBusy:
        return error_response(409, "busy", "The conversation is busy; please retry.")
    except StoreUnavailable:
        # The route's pattern, not the path: a path can carry a conversation id.
        route = request.match_info.route.resource
        log.warning(
            "store unavailable during %s %s", request.method, route.canonical if route else "?"
        )
        return error_response(
            503, "unavailable", "The service is briefly unavailable; please try again shortly."
        )
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too_large", "The request body is too large.")
    except web.HTTPException as error:
        if error.status >= 400 and request.path.startswith(
            ("/api/", "/desk/api/", "/health", "/metrics")
        ):
            return error_response(
                error.status, error.reason.lower().replace(" ", "_"), error.reason
            )
        raise
