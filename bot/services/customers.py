"""Customers: one per verified phone number, found by the phone's blind index.

The customer id is the vault's keyed hash of the normalised phone, so the same phone always
finds the same customer while Redis never holds the phone in clear (it is sealed). A
customer's conversations on any channel ("channel:chat") link to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
import redis.asyncio as aioredis
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from bot.services.vault import Vault
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.guard import guarded

# Numbers without a country code are read as Chinese ones.
REGION = "CN"
# A customer keeps this many linked conversations; older links are dropped.
MAX_CONVERSATIONS = 50

# KEYS: customer.  ARGV: sealed phone, now, locale, ttl s.
# Creates the customer unless it exists (then only the locale and the expiry are updated);
# returns {sealed phone, created}.
ENSURE = """
local customer = KEYS[1]
local sealed, now, locale, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('HSETNX', customer, 'p', sealed)
redis.call('HSETNX', customer, 'c', now)
redis.call('HSET', customer, 'l', locale)
redis.call('EXPIRE', customer, ttl)
return redis.call('HMGET', customer, 'p', 'c')
"""


# KEYS: customer conversations, customer.  ARGV: conversation, now, keep, ttl s.
# The conversation is the customer's most recently used one: notices go there first.
TOUCH = """
local conversations, customer = KEYS[1], KEYS[2]
redis.call('ZADD', conversations, ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', conversations, 0, -tonumber(ARGV[3]) - 1)
redis.call('EXPIRE', conversations, ARGV[4])
redis.call('EXPIRE', customer, ARGV[4])
return 1
"""


class InvalidPhone(ValueError):
    """The text is not a valid phone number."""


def normalise_phone(phone: str) -> str:
    """An 11-digit national number for a CN mobile, E.164 for any other valid number."""
    try:
        number = phonenumbers.parse(phone, REGION)
    except NumberParseException as error:
        raise InvalidPhone("not a phone number") from error
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid phone number")
    if number.country_code == 86 and phonenumbers.number_type(number) == PhoneNumberType.MOBILE:
        return phonenumbers.national_significant_number(number)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer whose phone was verified by a one-time code."""

    id: str
    phone: str  # clear, normalised; only ever stored sealed
    created: float
    locale: str


class Customers:
    """Customers by phone blind index, and the conversations linked to each."""

    def __init__(
        self,
        redis: aioredis.Redis,
        vault: Vault,
        clock: Callable[[], float] = time.time,
        batcher: ScriptBatcher | None = None,
    ) -> None:
        self._redis = redis
        self.vault = vault
        self._clock = clock
        self._ensure = redis.register_script(ENSURE)
        self._touch = redis.register_script(TOUCH)
        self._batch = batcher or ScriptBatcher(redis)

    def id_for(self, phone: str) -> str:
        """The customer id of `phone` (any common spelling); InvalidPhone if it is not one."""
        return self.vault.blind(normalise_phone(phone), "phone")

    async def ensure(self, phone: str, locale: str) -> Customer:
        """The customer of `phone`, created if missing; remembers `locale` as its language."""
        normal = normalise_phone(phone)
        customer_id = self.vault.blind(normal, "phone")
        args: list[str | float] = [
            self.vault.seal(normal),
            self._clock(),
            locale,
            keys.CUSTOMER_TTL_S,
        ]
        sealed, created = await guarded(self._ensure(keys=[keys.customer(customer_id)], args=args))
        return Customer(customer_id, self.vault.open(sealed), float(created), locale)

    async def get(self, customer_id: str) -> Customer | None:
        """The customer with this id, or None."""
        fields = await guarded(self._redis.hgetall(keys.customer(customer_id)))  # type: ignore[arg-type]
        if not fields or "p" not in fields:
            return None
        return Customer(
            customer_id, self.vault.open(fields["p"]), float(fields["c"]), fields.get("l", "zh")
        )

    async def link(self, customer_id: str, conversation: str) -> None:
        """Link a conversation ("channel:chat") to the customer, as its most recent one."""
        await guarded(self.touch(customer_id, conversation))

    def touch(self, customer_id: str, conversation: str) -> asyncio.Future[Any]:
        """Mark the conversation as the customer's most recently used one (linking it if
        new); queued at once so that it leaves in the pipeline of the turn's save. Await it."""
        return self._batch.submit(
            self._touch,
            [keys.customer_conversations(customer_id), keys.customer(customer_id)],
            [conversation, self._clock(), MAX_CONVERSATIONS, keys.CUSTOMER_TTL_S],
        )

    async def conversations(self, customer_id: str) -> list[str]:
        """The customer's conversations, most recently used first."""
        key = keys.customer_conversations(customer_id)
        return list(await guarded(self._redis.zrevrange(key, 0, -1)))


def belongs_to(
    owner_conversation: str | None,
    owner_customer: str | None,
    *,
    conversation: str,
    customer: str | None,
) -> bool:
    """Whether a case or an appointment is shown to (and changed by) this conversation: the
    one that opened it, or one verified as its customer (DESIGN.md section 4, progress)."""
    if owner_conversation is not None and owner_conversation == conversation:
        return True
    return customer is not None and owner_customer == customer
