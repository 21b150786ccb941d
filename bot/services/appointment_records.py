"""Appointment values, booking errors, and the stored record with the scripts that change it.

BookingError
├── WindowFull           the window has no place left; `nearest` free windows are offered
├── Overlap              the customer holds another booked appointment at that time
├── NotBookable          `reason`: past, too_far, outside_hours, unknown, id_required, id_invalid
├── NotBooked            the appointment is no longer booked (`state`: cancelled, done, no_show)
└── AppointmentNotFound  no such appointment, or not this customer's (also a LookupError)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.services.catalog import Slot, Window
from bot.services.vault import Vault, VaultError
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.guard import guarded

APPOINTMENT_STATES = ("booked", "cancelled", "done", "no_show")


@dataclass(frozen=True, slots=True)
class AppointmentDraft:
    """What a booking needs; `contact` and `id_number` in clear (sealed when stored)."""

    service: str
    window: str  # window id
    customer: str
    conversation: str | None  # "channel:chat" to notify, if any
    locale: str
    contact: str  # phone
    id_number: str | None = None
    case: str | None = None  # the repair case the visit is for, if any


@dataclass(frozen=True, slots=True)
class Appointment:
    """A booked (or formerly booked) visit; `contact` in clear, None if it cannot be opened."""

    number: str
    service: str
    place: str
    window: str
    start: float
    end: float
    state: str  # one of APPOINTMENT_STATES
    customer: str
    conversation: str | None
    locale: str
    contact: str | None
    case: str | None
    created: float
    rating: int | None


class BookingError(Exception):
    """A booking, reschedule or change was refused; the subclass says why."""


class WindowFull(BookingError):
    """The window is full; `nearest` are the free windows nearest in time, same service/place."""

    def __init__(self, nearest: tuple[Slot, ...]) -> None:
        super().__init__("the window is full")
        self.nearest = nearest


class Overlap(BookingError):
    """The customer already holds `existing`, a booked appointment at an overlapping time."""

    def __init__(self, existing: str) -> None:
        super().__init__(f"overlaps appointment {existing}")
        self.existing = existing


class NotBookable(BookingError):
    """The window or draft cannot be booked at all; `reason` is a code a flow can explain."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotBooked(BookingError):
    """The appointment is not booked any more, so it cannot be changed; `state` says what it is."""

    def __init__(self, state: str) -> None:
        super().__init__(f"the appointment is {state}")
        self.state = state


class AppointmentNotFound(BookingError, LookupError):
    """No appointment with that number belongs to the customer."""


class RatingRefused(ValueError):
    """A rating was refused; `reason`: "unknown", "rated" (once only) or the visit's state."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# KEYS: appointment.  ARGV: ttl s, then field, value, field, value, ...  A new record and
# its expiry in one step.
CREATE = """
local appointment = KEYS[1]
local ttl = ARGV[1]
redis.call('HSET', appointment, unpack(ARGV, 2))
redis.call('EXPIRE', appointment, ttl)
return 1
"""

# KEYS: appointment.  ARGV: new state, customer ("" for staff: any), now, ttl s, actor.
# Returns "ok" when the booked appointment changed state, "unknown" when there is no such
# appointment (or it is another customer's), else its current state (not booked any more).
CHANGE_STATE = """
local appointment = KEYS[1]
local to, customer, now, ttl, actor = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local found = redis.call('HMGET', appointment, 'state', 'customer')
local state, owner = found[1], found[2]
if not state or (customer ~= '' and owner ~= customer) then
  return 'unknown'
end
if state ~= 'booked' then
  return state
end
redis.call('HSET', appointment, 'state', to, 'updated', now, 'actor', actor)
redis.call('EXPIRE', appointment, ttl)
return 'ok'
"""

# KEYS: appointment.  ARGV: customer, expected window, new window, new place, start, end,
# now, ttl s.  Moves a booked appointment still in the expected window; returns "ok", or
# "unknown" / the state / "moved" when something else changed it first.
MOVE = """
local appointment = KEYS[1]
local customer, expected, window, place = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local start, finish, now, ttl = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local found = redis.call('HMGET', appointment, 'state', 'customer', 'window')
local state, owner, current = found[1], found[2], found[3]
if not state or owner ~= customer then
  return 'unknown'
end
if state ~= 'booked' then
  return state
end
if current ~= expected then
  return 'moved'
end
redis.call('HSET', appointment, 'window', window, 'place', place, 'start', start,
  'end', finish, 'updated', now)
redis.call('EXPIRE', appointment, ttl)
return 'ok'
"""

# KEYS: appointment.  ARGV: rating, now, ttl s.  Only a done visit, and only once.
RATE = """
local appointment = KEYS[1]
local rating, now, ttl = ARGV[1], ARGV[2], ARGV[3]
local found = redis.call('HMGET', appointment, 'state', 'rating')
local state, rated = found[1], found[2]
if not state then
  return 'unknown'
end
if state ~= 'done' then
  return state
end
if rated then
  return 'rated'
end
redis.call('HSET', appointment, 'rating', rating, 'updated', now)
redis.call('EXPIRE', appointment, ttl)
return 'ok'
"""

# KEYS: appointment.  ARGV: comment.  The customer's words with their rating; 0 when there
# is no such appointment.
COMMENT = """
local appointment, comment = KEYS[1], ARGV[1]
if redis.call('EXISTS', appointment) == 0 then return 0 end
redis.call('HSET', appointment, 'comment', comment)
return 1
"""


def encode(appointment: Appointment, contact: str, id_number: str | None) -> dict[str, str]:
    """The hash fields of a new appointment; `contact` and `id_number` already sealed."""
    fields = {
        "number": appointment.number,
        "service": appointment.service,
        "place": appointment.place,
        "window": appointment.window,
        "start": repr(appointment.start),
        "end": repr(appointment.end),
        "state": appointment.state,
        "customer": appointment.customer,
        "locale": appointment.locale,
        "contact": contact,
        "created": repr(appointment.created),
        "updated": repr(appointment.created),
    }
    optional = {
        "conversation": appointment.conversation,
        "case": appointment.case,
        "id_number": id_number,
    }
    return fields | {name: value for name, value in optional.items() if value is not None}


def decode(fields: Mapping[str, str], vault: Vault) -> Appointment:
    """An appointment from its hash fields, the contact opened by `vault`."""
    try:
        contact: str | None = vault.open(fields["contact"])
    except VaultError:
        contact = None  # sealed under another key (an ephemeral one before a restart)
    rating = fields.get("rating")
    return Appointment(
        number=fields["number"],
        service=fields["service"],
        place=fields["place"],
        window=fields["window"],
        start=float(fields["start"]),
        end=float(fields["end"]),
        state=fields["state"],
        customer=fields["customer"],
        conversation=fields.get("conversation"),
        locale=fields["locale"],
        contact=contact,
        case=fields.get("case"),
        created=float(fields["created"]),
        rating=int(rating) if rating is not None else None,
    )


class Records:
    """The appointment hashes in Redis, and the scripts that change them."""

    def __init__(
        self, redis: aioredis.Redis, vault: Vault, batcher: ScriptBatcher | None = None
    ) -> None:
        self._redis = redis
        self._vault = vault
        self._batch = batcher or ScriptBatcher(redis)
        self._create = redis.register_script(CREATE)
        self._change_state = redis.register_script(CHANGE_STATE)
        self._move = redis.register_script(MOVE)
        self._rate = redis.register_script(RATE)
        self._comment = redis.register_script(COMMENT)

    async def create(self, appointment: Appointment, id_number: str | None) -> None:
        """Store a new appointment, its contact and ID number sealed."""
        contact = self._vault.seal(appointment.contact or "")
        sealed_id = self._vault.seal(id_number) if id_number else None
        fields = encode(appointment, contact, sealed_id)
        args = [keys.CASE_TTL_S, *(part for pair in fields.items() for part in pair)]
        await guarded(self._batch.run(self._create, [keys.appointment(appointment.number)], args))

    async def get(self, number: str) -> Appointment | None:
        fields: dict[str, str] = await guarded(self._redis.hgetall(keys.appointment(number)))  # type: ignore[arg-type]
        return decode(fields, self._vault) if fields else None

    async def get_many(self, numbers: Sequence[str]) -> list[Appointment]:
        """The appointments that exist among `numbers` (one round trip)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.hgetall(keys.appointment(number))
            found: list[dict[str, str]] = await guarded(pipe.execute())
        return [decode(fields, self._vault) for fields in found if fields]

    async def change_state(
        self, number: str, state: str, *, customer: str, actor: str, now: float
    ) -> str:
        """Booked -> `state`; "ok", "unknown" or the state it is in (see CHANGE_STATE)."""
        args: list[str | float] = [state, customer, now, keys.CASE_TTL_S, actor]
        status: str = await guarded(self._change_state(keys=[keys.appointment(number)], args=args))
        return status

    async def move(
        self, number: str, *, customer: str, expected: str, window: Window, now: float
    ) -> str:
        """Move to `window` if still booked in `expected`; "ok" or why not (see MOVE)."""
        start, end = window.start.timestamp(), window.end.timestamp()
        args: list[str | float] = [
            customer,
            expected,
            window.id,
            window.place,
            start,
            end,
            now,
            keys.CASE_TTL_S,
        ]
        status: str = await guarded(self._move(keys=[keys.appointment(number)], args=args))
        return status

    async def comment(self, number: str, text: str) -> bool:
        """Keep the customer's comment on the visit; False if there is no such visit."""
        return bool(
            await guarded(self._batch.run(self._comment, [keys.appointment(number)], [text]))
        )

    async def rate(self, number: str, rating: int, now: float) -> str:
        """Record a done visit's rating once; "ok" or why not (see RATE)."""
        args: list[str | float] = [rating, now, keys.CASE_TTL_S]
        status: str = await guarded(self._rate(keys=[keys.appointment(number)], args=args))
        return status
