"""Proving a phone number with a one-time code by SMS.

A code is 6 random digits, valid 5 minutes, for the conversation that asked for it only.
Five wrong attempts lock the phone out for 15 minutes; a new code may be asked for once a
minute. Redis keeps only a keyed hash of the code (bound to the phone and conversation), and
one script decides each check, so concurrent guesses cannot get past the attempt limit.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from bot.i18n import Catalogs, _
from bot.services.customers import Customers, normalise_phone
from bot.services.vault import mask_phone
from bot.settings import Settings, SettingsError
from bot.store import keys
from bot.store.guard import guarded

CODE_DIGITS = 6
CODE_VALID_S = 5 * 60
RESEND_AFTER_S = 60
MAX_ATTEMPTS = 5
LOCKOUT_S = 15 * 60

dev_sms_log = logging.getLogger("shouwen.dev_sms")
log = logging.getLogger(__name__)

# KEYS: pending code, lock.  ARGV: now, code hash, expires at, locale, resend s, keep ms.
# Returns {"locked", locked until} | {"too_soon", sent at} | {"sent"}. Wrong attempts ("w")
# survive a new code, so asking again does not buy more guesses.
SEND = """
local pending, lock = KEYS[1], KEYS[2]
local now, digest, expires, locale = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local resend_s, keep_ms = tonumber(ARGV[5]), ARGV[6]
local locked_until = redis.call('GET', lock)
if locked_until and tonumber(locked_until) > now then
  return {'locked', locked_until}
end
local sent = redis.call('HGET', pending, 's')
if sent and now - tonumber(sent) < resend_s then
  return {'too_soon', sent}
end
redis.call('HSET', pending, 'h', digest, 'e', expires, 's', ARGV[1], 'l', locale)
redis.call('PEXPIRE', pending, keep_ms)
return {'sent'}
"""

# KEYS: pending code, lock.  ARGV: now, hash of the code tried, max attempts,
#       locked until (now + lock-out), lock-out ms.
# Returns {"ok", locale} | {"wrong", attempts left} | {"expired"} | {"locked"}.
CHECK = """
local pending, lock = KEYS[1], KEYS[2]
local now, digest, max_attempts = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local locked_until_if_wrong, lockout_ms = ARGV[4], ARGV[5]
local locked_until = redis.call('GET', lock)
if locked_until and tonumber(locked_until) > now then
  return {'locked'}
end
local stored = redis.call('HMGET', pending, 'h', 'e', 'l')
if not stored[1] or tonumber(stored[2]) <= now then
  return {'expired'}
end
if stored[1] == digest then
  redis.call('DEL', pending)
  return {'ok', stored[3]}
end
local wrong = redis.call('HINCRBY', pending, 'w', 1)
if wrong >= max_attempts then
  redis.call('SET', lock, locked_until_if_wrong, 'PX', lockout_ms)
  redis.call('DEL', pending)
  return {'locked'}
end
return {'wrong', tostring(max_attempts - wrong)}
"""


class SmsSender(Protocol):
    """Sends a text message to a phone."""

    async def send(self, phone: str, text: str) -> None: ...


class ConsoleSmsSender:
    """Development stand-in: writes the SMS, code included, to the server console."""

    def __init__(self, settings: Settings) -> None:
        if settings.sms_provider:
            raise SettingsError(
                f"SHOUWEN_SMS_PROVIDER is {settings.sms_provider!r}: "
                "codes must go to that provider, not to the console"
            )

    async def send(self, phone: str, text: str) -> None:
        dev_sms_log.warning("[dev sms] to %s: %s", mask_phone(phone), text)


@dataclass(frozen=True, slots=True)
class CodeSent:
    status: str  # "sent" | "locked" | "too_soon" | "failed" (the SMS could not be sent)
    retry_after: int = 0  # seconds until a code can be asked for again


@dataclass(frozen=True, slots=True)
class CodeChecked:
    status: str  # "ok" | "wrong" | "expired" | "locked"
    attempts_left: int = 0
    customer: str | None = None  # the customer id, when "ok"


class Verification:
    """Sends one-time codes and checks them; a right code links the conversation."""

    def __init__(
        self,
        redis: aioredis.Redis,
        customers: Customers,
        sender: SmsSender,
        catalogs: Catalogs,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._customers = customers
        self._sender = sender
        self._catalogs = catalogs
        self._clock = clock
        self._send = redis.register_script(SEND)
        self._check = redis.register_script(CHECK)

    async def send(self, conversation: str, phone: str, locale: str) -> CodeSent:
        """Text a new code to `phone` for `conversation` (InvalidPhone if it is not a phone)."""
        normal = normalise_phone(phone)
        phone_id = self._customers.vault.blind(normal, "phone")
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        now = self._clock()
        args: list[str | int] = [
            repr(now),
            self._digest(phone_id, conversation, code),
            repr(now + CODE_VALID_S),
            locale,
            RESEND_AFTER_S,
            LOCKOUT_S * 1000,  # forget attempts a quarter of an hour after the last code
        ]
        reply = await guarded(self._send(keys=self._keys(phone_id), args=args))
        if reply[0] == "locked":
            return CodeSent("locked", math.ceil(float(reply[1]) - now))
        if reply[0] == "too_soon":
            return CodeSent("too_soon", math.ceil(float(reply[1]) + RESEND_AFTER_S - now))
        text = _(
            "Your StarLink verification code is {code}. It is valid for 5 minutes. "
            "Do not share it with anyone.",
            code=code,
        )
        try:
            await self._sender.send(normal, self._catalogs.render(locale, text))
        except Exception as error:  # the provider refused or failed: say so, not a 500
            failure = type(error).__name__
            log.warning("one-time code to %s not sent: %s", mask_phone(normal), failure)
            await self._forget(phone_id)
            return CodeSent("failed")
        except BaseException:
            await self._forget(phone_id)
            raise
        return CodeSent("sent")

    @property
    def sender(self) -> SmsSender:
        """What texts the codes (an SMS provider's connector reuses it for notices)."""
        return self._sender

    async def _forget(self, phone_id: str) -> None:
        """The customer never got this code: let them ask again at once."""
        await guarded(self._redis.hdel(keys.verification(phone_id), "h", "e", "s"))  # type: ignore[arg-type]

    async def check(self, conversation: str, phone: str, code: str) -> CodeChecked:
        """Check `code` for `phone` in `conversation`; "ok" ensures and links the customer."""
        normal = normalise_phone(phone)
        phone_id = self._customers.vault.blind(normal, "phone")
        tried = "".join(code.split())  # "123 456" as typed from an SMS
        now = self._clock()
        digest = self._digest(phone_id, conversation, tried)
        args: list[str | int] = [
            repr(now),
            digest,
            MAX_ATTEMPTS,
            repr(now + LOCKOUT_S),
            LOCKOUT_S * 1000,
        ]
        reply = await guarded(self._check(keys=self._keys(phone_id), args=args))
        status = str(reply[0])
        if status == "wrong":
            return CodeChecked("wrong", attempts_left=int(reply[1]))
        if status != "ok":
            return CodeChecked(status)
        customer = await self._customers.ensure(normal, str(reply[1]))
        await self._customers.link(customer.id, conversation)
        return CodeChecked("ok", customer=customer.id)

    def _digest(self, phone_id: str, conversation: str, code: str) -> str:
        # Bound to the phone and the conversation that asked: a code read in another
        # conversation does not verify this one.
        return self._customers.vault.blind(f"{phone_id}\x00{conversation}\x00{code}", "otp")

    @staticmethod
    def _keys(phone_id: str) -> list[str]:
        return [keys.verification(phone_id), keys.verification_lock(phone_id)]
