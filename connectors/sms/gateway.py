"""`POST /sms/inbound`: a generic SMS gateway's webhook, JSON signed with HMAC-SHA256.

The gateway posts `{"id": its message id, "from": phone, "to"?: our number, "text": str}`
with `X-Signature: sha256=<hex HMAC-SHA256 of the raw body under the shared secret>`, and
sends the SMS in our answer: `{"replies": [text, ...]}` (empty: send nothing).
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from aiohttp import web

from bot.services.customers import InvalidPhone
from connectors.errors import ApiError
from connectors.sms.inbound import SmsInbound, valid_message_id
from connectors.sms.providers import SIGNATURE_HEADER, sign
from connectors.webchat.contract import decode_json

PATH = "/sms/inbound"
# Longest phone spelling accepted in `from` / `to` ("+86 138-0013-8000" and the like).
MAX_PHONE_CHARS = 32


@dataclass(frozen=True, slots=True)
class GatewayMessage:
    id: str
    sender: str
    text: str


class GatewayWebhook:
    """Checks the gateway's signature, reads the message, answers with the replies."""

    def __init__(self, secret: str, inbound: SmsInbound) -> None:
        self._secret = secret
        self._inbound = inbound

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        given = request.headers.get(SIGNATURE_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, sign(self._secret, raw).encode()):
            raise ApiError(401, "bad_signature", "The body's signature does not match.")
        message = parse_message(decode_json(raw))
        try:
            answer = await self._inbound.answer(message.sender, message.id, message.text)
        except InvalidPhone:
            raise ApiError(400, "invalid_phone", "“from” is not a phone number.") from None
        body = json.dumps({"replies": [answer] if answer else []}, ensure_ascii=False)
        return web.Response(text=body, content_type="application/json")


def parse_message(body: object) -> GatewayMessage:
    """Check the gateway's message; ApiError 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object.")
    if not valid_message_id(body.get("id")):
        raise ApiError(400, "invalid_field", "“id” must be the gateway's message id (1-64 chars).")
    for name in ("from", "to"):
        value = body.get(name)
        if (name == "from" or value is not None) and not (
            isinstance(value, str) and 0 < len(value) <= MAX_PHONE_CHARS
        ):
            raise ApiError(400, "invalid_field", f"“{name}” must be a phone number.")
    if not isinstance(body.get("text"), str):
        raise ApiError(400, "invalid_field", "“text” must be a string.")
    return GatewayMessage(body["id"], body["from"], body["text"])
