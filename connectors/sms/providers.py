"""Sending SMS: a Twilio-compatible REST API, or a generic HTTP gateway.

A provider's `submit` returns the provider's message id. A number that can never take our
SMS (invalid, unsubscribed, unroutable) raises `Unreachable`, which the outbox does not
retry; any other failure (the provider down or busy, the network, a timeout) raises
`SendFailed`, which it retries with backoff. Neither carries the phone number or the
provider's own words about it: both end up in logs and the dead-letter stream.

Errors:
    Exception
     ├── bot.services.outbox.Unreachable   the number refuses SMS: give up on this channel
     └── SendFailed                        this attempt failed: try again later
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any, Protocol

import aiohttp
import phonenumbers

from bot.services.customers import REGION
from bot.services.outbox import Unreachable
from bot.settings import Settings, SettingsError

log = logging.getLogger(__name__)

# A provider that does not answer within this long failed; the outbox tries again later.
TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
SIGNATURE_HEADER = "X-Signature"
# Twilio's error codes for a number that will not take our messages: invalid, not a mobile,
# unsubscribed (the customer sent STOP to Twilio), a region or route we cannot reach.
# https://www.twilio.com/docs/api/errors
TWILIO_UNREACHABLE = frozenset({21211, 21214, 21217, 21407, 21408, 21610, 21612, 21614})
# A gateway answering one of these refused the number itself (the rest of 4xx is our fault,
# 408 and 429 are "later").
GATEWAY_UNREACHABLE = frozenset({400, 404, 410, 422})


class SendFailed(Exception):
    """The provider did not take the message this time; trying again later may work."""


class SmsProvider(Protocol):
    """Sends SMS; `send` is what the one-time codes use (bot.services.verification.SmsSender)."""

    async def submit(self, phone: str, text: str) -> str:
        """Send `text` to `phone`; the provider's message id."""

    async def send(self, phone: str, text: str) -> None: ...

    async def close(self) -> None: ...


def sign(secret: str, body: bytes) -> str:
    """The gateway's signature header value: "sha256=" + hex HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def e164(phone: str) -> str:
    """A stored phone ("13800138000" or E.164) as providers want it: "+8613800138000"."""
    try:
        number = phonenumbers.parse(phone, REGION)
    except phonenumbers.NumberParseException as error:
        raise Unreachable("not a phone number") from error
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class HttpProvider:
    """One lazily made aiohttp session per provider, closed with the server."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def send(self, phone: str, text: str) -> None:
        await self.submit(phone, text)

    async def submit(self, phone: str, text: str) -> str:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        try:
            return await self._post(self._session, e164(phone), text)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SendFailed(f"{type(self).__name__}: {type(error).__name__}") from error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, session: aiohttp.ClientSession, to: str, text: str) -> str:
        raise NotImplementedError


class TwilioProvider(HttpProvider):
    """Twilio's Messages API (or one compatible with it at settings.twilio_api_url)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        sid, token, sender = (
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.sms_from,
        )
        if not (sid and token and sender):
            raise SettingsError(
                "SHOUWEN_SMS_PROVIDER=twilio needs SHOUWEN_TWILIO_ACCOUNT_SID, "
                "SHOUWEN_TWILIO_AUTH_TOKEN and SHOUWEN_SMS_FROM"
            )
        self._url = f"{settings.twilio_api_url.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
        # Basic auth by hand: aiohttp deprecates BasicAuth objects, and its replacement is
        # newer than the aiohttp versions we support.
        credentials = base64.b64encode(f"{sid}:{token}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {credentials}"}
        self._from = sender

    async def _post(self, session: aiohttp.ClientSession, to: str, text: str) -> str:
        form = {"To": to, "From": self._from, "Body": text}
        async with session.post(self._url, data=form, headers=self._headers) as response:
            body = await _json_of(response)
            status = response.status
        if 200 <= status < 300:
            return str(body.get("sid", ""))
        code = body.get("code")
        if status < 500 and status != 429 and code in TWILIO_UNREACHABLE:
            raise Unreachable(f"twilio error {code}")
        raise SendFailed(f"twilio answered {status} (error {code})")


class GatewayProvider(HttpProvider):
    """A generic gateway: POST {"to", "text", "from"?} as JSON, signed like its webhooks;
    a 2xx answer may name the message: {"id": ...}."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        if not (settings.sms_gateway_url and settings.sms_gateway_secret):
            raise SettingsError(
                "SHOUWEN_SMS_PROVIDER=gateway needs SHOUWEN_SMS_GATEWAY_URL and "
                "SHOUWEN_SMS_GATEWAY_SECRET"
            )
        self._url = settings.sms_gateway_url
        self._secret = settings.sms_gateway_secret
        self._from = settings.sms_from

    async def _post(self, session: aiohttp.ClientSession, to: str, text: str) -> str:
        message = {"to": to, "text": text}
        if self._from:
            message["from"] = self._from
        raw = json.dumps(message, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret, raw)}
        async with session.post(self._url, data=raw, headers=headers) as response:
            body = await _json_of(response)
            status = response.status
        if 200 <= status < 300:
            return str(body.get("id", ""))
        if status in GATEWAY_UNREACHABLE:
            raise Unreachable(f"gateway refused the number ({status})")
        raise SendFailed(f"gateway answered {status}")


async def _json_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The answer's JSON object, or {} when it has none (an HTML error page, say)."""
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def provider(settings: Settings) -> SmsProvider | None:
    """The provider SHOUWEN_SMS_PROVIDER names, or None when there is none."""
    if settings.sms_provider == "twilio":
        return TwilioProvider(settings)
    if settings.sms_provider == "gateway":
        return GatewayProvider(settings)
    return None
