"""Customers: one per verified phone number, found by the phone's blind index.

The customer id is the vault's keyed hash of the normalised phone, so the same phone always
finds the same customer while Redis never holds the phone in clear (it is sealed). A
customer's conversations on any channel ("channel:chat") link to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
import redis.asyncio as aioredis
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from bot.services.vault import Vault
from bot.store import keys
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
        self, redis: aioredis.Redis, vault: Vault, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self.vault = vault
        self._clock = clock
        self._ensure = redis.register_script(ENSURE)

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
        key = keys.customer_conversations(customer_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {conversation: self._clock()})
            # Keep the newest MAX_CONVERSATIONS (ranks are ascending by time).
            pipe.zremrangebyrank(key, 0, -MAX_CONVERSATIONS - 1)
            pipe.expire(key, keys.CUSTOMER_TTL_S)
            pipe.expire(keys.customer(customer_id), keys.CUSTOMER_TTL_S)
            await guarded(pipe.execute())

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
