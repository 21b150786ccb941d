"""`POST /telegram/webhook`: Telegram's updates, fed to the aiogram dispatcher.

Telegram sends the secret given to setWebhook in `X-Telegram-Bot-Api-Secret-Token`; a
request without it is refused before its body is read. An update is handled before the
request is answered, so an update whose answer could not be sent is refused (502) and
Telegram delivers it again (https://core.telegram.org/bots/api#setwebhook).
"""

from __future__ import annotations

import hashlib
import hmac

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiohttp import web
from pydantic import ValidationError

from bot.settings import Settings
from connectors.errors import ApiError
from connectors.telegram.handlers import NotSent
from connectors.webchat.contract import decode_json

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header's name
# Derives the webhook secret from the bot token when none is configured: every process
# finds the same one, and it reveals nothing about the token.
_SECRET_LABEL = b"shouwen telegram webhook secret"


def webhook_secret(settings: Settings, token: str) -> str:
    """The configured secret, else one derived from the token (64 hex digits, which
    Telegram accepts: 1-256 of A-Z, a-z, 0-9, _ and -)."""
    if settings.telegram_secret:
        return settings.telegram_secret
    return hmac.new(token.encode("utf-8"), _SECRET_LABEL, hashlib.sha256).hexdigest()


class TelegramWebhook:
    """The webhook route of one bot and its dispatcher."""

    def __init__(self, bot: Bot, dispatcher: Dispatcher, secret: str) -> None:
        self._bot = bot
        self._dispatcher = dispatcher
        self._secret = secret.encode("utf-8")

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        self._check_secret(request)
        update = self._update(decode_json(await request.read()))
        if not _known(update):  # newer than our aiogram, or empty: nothing we could do
            return web.json_response({})
        try:
            await self._dispatcher.feed_update(self._bot, update)
        except NotSent as error:
            raise ApiError(
                502, "telegram_unavailable", "The answer could not be sent; deliver it again."
            ) from error
        return web.json_response({})

    def _check_secret(self, request: web.Request) -> None:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            raise ApiError(401, "missing_secret", f"The {SECRET_HEADER} header is required.")
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), self._secret):
            raise ApiError(403, "wrong_secret", f"The {SECRET_HEADER} header is wrong.")

    def _update(self, body: object) -> Update:
        try:
            return Update.model_validate(body, context={"bot": self._bot})
        except ValidationError:
            raise ApiError(400, "invalid_update", "The body is not a Telegram Update.") from None


def _known(update: Update) -> bool:
    try:
        return bool(update.event_type)
    except UpdateTypeLookupError:  # no field of a type aiogram knows
        return False
