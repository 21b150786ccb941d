"""Which windows can be booked, and the two atomic booking decisions: a place in a window,
and a customer's free time.

Each decision is one Lua script on one hash tag: a window's places on `{w:<place>:<day>}`, a
customer's booked times on `{u:<customer>}`. A booking takes the customer's time first and
then the window; when the window is full it gives the time back (compensation), so the same
code runs on Redis Cluster, where one script cannot span both. The scripts go through a
`ScriptBatcher`: under load the calls of concurrent turns share one pipeline.

What windows have left can also be read ahead (`read_ahead`): a turn starts the read before
it has its conversation, so that it leaves in the claim's pipeline; the offers it makes from
that read are as good as any (the booking itself stays the atomic decision).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.services.appointment_records import NotBookable, Overlap, WindowFull
from bot.services.catalog import Catalog, ServiceType, Slot, Window
from bot.services.policy import Policy
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.guard import guarded

# Window hashes outlive their day by this much: late marks and reschedules still find them.
WINDOW_KEEP = timedelta(days=3)
# A customer's appointment list keeps this many numbers.
HISTORY_KEEP = 100
# Windows whose service-hours check is remembered.
_HOURS_KEPT = 16_384
# A full window offers this many others.
NEAREST = 3
# The nearest free windows are first looked for this many days either side of the time asked.
NEAR_DAYS = 2

# KEYS: the window's place-day hash.  ARGV: window id, appointment number, capacity,
# ttl (s, counted from the service's clock, which tests move; never below a day).
# The hash holds `<window>` -> places taken and `<window> <number>` -> 1 for each booking,
# so a retried take or release counts once.  Returns 1 if taken.
TAKE_WINDOW = """
local bookings = KEYS[1]
local window, number, capacity, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local member = window .. ' ' .. number
if redis.call('HEXISTS', bookings, member) == 1 then
  return 1
end
if tonumber(redis.call('HGET', bookings, window) or '0') >= capacity then
  return 0
end
redis.call('HINCRBY', bookings, window, 1)
redis.call('HSET', bookings, member, '1')
redis.call('EXPIRE', bookings, ttl)
return 1
"""

# KEYS: the window's place-day hash.  ARGV: window id, appointment number.
# Returns 1 if the booking held a place, which is now free again.
RELEASE_WINDOW = """
local bookings = KEYS[1]
local window, number = ARGV[1], ARGV[2]
if redis.call('HDEL', bookings, window .. ' ' .. number) == 1 then
  redis.call('HINCRBY', bookings, window, -1)
  return 1
end
return 0
"""

# KEYS: the customer's booked times (hash number -> "start end"), their appointment list.
# ARGV: number, start, end, now, ttl s, created, history size.
# Returns "" when the time is free (and records it), else the overlapping appointment.
# The number's own entry never conflicts: a reschedule replaces it.
TAKE_TIME = """
local booked, history = KEYS[1], KEYS[2]
local number, start, finish = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now, ttl, created, keep = tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
local entries = redis.call('HGETALL', booked)
for i = 1, #entries, 2 do
  local other = entries[i]
  local s, e = string.match(entries[i + 1], '^(%S+) (%S+)$')
  if tonumber(e) <= now then
    redis.call('HDEL', booked, other)  -- over: it blocks nothing any more
  elseif other ~= number and tonumber(s) < finish and start < tonumber(e) then
    return other
  end
end
redis.call('HSET', booked, number, ARGV[2] .. ' ' .. ARGV[3])
redis.call('EXPIRE', booked, ttl)
redis.call('ZADD', history, 'NX', created, number)
redis.call('ZREMRANGEBYRANK', history, 0, -keep - 1)
redis.call('EXPIRE', history, ttl)
return ''
"""


# KEYS: a place-day hash.  ARGV: window ids.  The places taken in each (nil for none).
TAKEN = """
local bookings = KEYS[1]
return redis.call('HMGET', bookings, unpack(ARGV))
"""

# KEYS: a place-day hash.  Every window of it with places taken: {window, count, ...}
# (the "<window> <number>" fields of single bookings left out). Whatever the service.
TAKEN_ALL = """
local bookings = KEYS[1]
local fields = redis.call('HGETALL', bookings)
local counts = {}
for i = 1, #fields, 2 do
  if not string.find(fields[i], ' ', 1, true) then
    counts[#counts + 1] = fields[i]
    counts[#counts + 1] = fields[i + 1]
  end
end
return counts
"""


def window_day(window_id: str) -> str:
    """The day (yyyymmdd) of a window id."""
    return window_id.split(":")[1]


@functools.lru_cache(maxsize=1024)  # strftime is slow, and a turn names the same days often
def _day_text(day: date) -> str:
    return f"{day:%Y%m%d}"


def _bookings_key(place: str, day: date) -> str:
    return keys.window_bookings(place, _day_text(day))


@dataclass(frozen=True, slots=True)
class Taken:
    """Places taken in every window of some place-days, as one read found them."""

    days: frozenset[tuple[str, date]]  # (place, day) read
    counts: Mapping[str, int]  # window id -> places taken; a window not in it: none

    def of(self, window: Window) -> int | None:
        """Places taken in `window`, or None when its place-day was not read."""
        if (window.place, window.day) not in self.days:
            return None
        return self.counts.get(window.id, 0)


class TakenAhead:
    """A read of place-days already sent (`Capacity.read_ahead`); await `result`."""

    def __init__(self, days: Sequence[tuple[str, date]], replies: Sequence[asyncio.Future[Any]]):
        self._days = days
        self._replies = replies
        self._taken: Taken | None = None
        for reply in replies:  # a read nobody takes up fails quietly
            reply.add_done_callback(_retrieve)

    async def result(self) -> Taken | None:
        """What the read found; None when it failed (the turn then reads again itself)."""
        if self._taken is None:
            try:
                replies = [await reply for reply in self._replies]
            except (RedisError, OSError):
                return None
            counts = {
                window: int(count)
                for flat in replies
                for window, count in zip(flat[::2], flat[1::2], strict=True)
            }
            self._taken = Taken(frozenset(self._days), counts)
        return self._taken


def _retrieve(reply: asyncio.Future[Any]) -> None:
    if not reply.cancelled():
        reply.exception()


class Capacity:
    """What can be booked when, window places and customers' booked times, in Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        catalog: Catalog,
        policy: Policy,
        clock: Callable[[], float],
        zone: ZoneInfo,
        batcher: ScriptBatcher | None = None,
    ) -> None:
        self._redis = redis
        self._batch = batcher or ScriptBatcher(redis)
        self._catalog = catalog
        self._policy = policy
        self._clock = clock
        self._hours: dict[str, bool] = {}  # window id -> inside service hours
        self._horizon_days: tuple[date | None, list[date]] = (None, [])
        self._zone = zone
        self._take_window = redis.register_script(TAKE_WINDOW)
        self._release_window = redis.register_script(RELEASE_WINDOW)
        self._take_time = redis.register_script(TAKE_TIME)
        self._taken_script = redis.register_script(TAKEN)
        self._taken_all = redis.register_script(TAKEN_ALL)

    def today(self) -> date:
        """Today in the operator's time zone."""
        return datetime.fromtimestamp(self._clock(), self._zone).date()

    def bookable(self, service_id: str, window_id: str) -> tuple[ServiceType, Window]:
        """The service and window, if that window can be booked for it now (else NotBookable)."""
        service = self._catalog.service(service_id)
        window = self._catalog.window(window_id)
        if service is None or window is None:
            raise NotBookable("unknown")
        if all(place.id != window.place for place in self._catalog.places(service_id)):
            raise NotBookable("unknown")
        refusal = self._refusal(window, self._clock(), self.today())
        if refusal is not None:
            raise NotBookable(refusal)
        return service, window

    def _refusal(self, window: Window, now: float, today: date) -> str | None:
        if window.starts_at <= now:
            return "past"
        if (window.day - today).days > self._policy.booking_horizon_days:
            return "too_far"
        if not self._in_hours(window):
            return "outside_hours"
        return None

    def _in_hours(self, window: Window) -> bool:
        known = self._hours.get(window.id)
        if known is None:
            opens, closes = self._policy.service_hours
            start, end = window.start.astimezone(self._zone), window.end.astimezone(self._zone)
            known = opens <= start.time() and end.time() <= closes and end.date() == start.date()
            if len(self._hours) >= _HOURS_KEPT:  # windows are pure data: start afresh
                self._hours.clear()
            self._hours[window.id] = known
        return known

    def read_ahead(self, place: str, days: Iterable[date]) -> TakenAhead:
        """Send a read of the places taken in every window of `place` on `days` with the
        next pipeline, whatever the service; `nearest` and `availability` take its result
        as `known` and read only what it does not hold."""
        place_days = [(place, day) for day in days]
        replies = [
            self._batch.submit(self._taken_all, [_bookings_key(p, d)], []) for p, d in place_days
        ]
        return TakenAhead(place_days, replies)

    def near_days(self, around: float) -> list[date]:
        """The days `nearest` looks at first for `around`: NEAR_DAYS either side of its day,
        within the booking horizon."""
        return self._near(self._horizon(), around)

    async def availability(
        self, service: str, place: str, days: Sequence[date], known: Taken | None = None
    ) -> list[Slot]:
        """The bookable windows of those days, with the places each has left (may be 0)."""
        windows = self._bookable_windows(service, place, days)
        taken = _known(windows, known)
        taken.update(await self._taken([w for w in windows if w.id not in taken]))
        return [Slot(w, max(w.capacity - taken[w.id], 0)) for w in windows]

    async def nearest(
        self,
        service: str,
        place: str,
        around: float,
        limit: int,
        exclude: str | None = None,
        known: Taken | None = None,
    ) -> list[Slot]:
        """Free windows nearest in time to `around`, before or after it, never in the past."""
        horizon = self._horizon()
        # A window more than NEAR_DAYS days from `around`'s day is at least NEAR_DAYS - 1 days
        # from it: when the nearest `limit` free windows of those days are closer than that,
        # they are the answer and the rest of the horizon need not be looked at.
        near = self._near(horizon, around)
        bound = (NEAR_DAYS - 1) * 86_400
        taken: dict[str, int] = {}  # read once, whichever pass reads it
        if near != horizon:
            free = await self._nearest_of(
                near, service, place, around, limit, exclude, taken, known
            )
            if len(free) == limit and abs(free[-1].window.starts_at - around) <= bound:
                return free
        return await self._nearest_of(horizon, service, place, around, limit, exclude, taken, known)

    def _horizon(self) -> list[date]:
        """Today and the days after it that can be booked (made once a day)."""
        today = self.today()
        if self._horizon_days[0] != today:
            days = [today + timedelta(days=n) for n in range(self._policy.booking_horizon_days + 1)]
            self._horizon_days = (today, days)
        return self._horizon_days[1]

    def _near(self, horizon: Sequence[date], around: float) -> list[date]:
        middle = datetime.fromtimestamp(around, self._zone).date()
        return [day for day in horizon if abs((day - middle).days) <= NEAR_DAYS]

    async def _nearest_of(
        self,
        days: Sequence[date],
        service: str,
        place: str,
        around: float,
        limit: int,
        exclude: str | None,
        taken: dict[str, int],
        known: Taken | None,
    ) -> list[Slot]:
        candidates = [w for w in self._bookable_windows(service, place, days) if w.id != exclude]
        # What was read ahead is not read again.
        taken.update(_known((w for w in candidates if w.id not in taken), known))
        candidates.sort(key=lambda w: (abs(w.starts_at - around), w.starts_at))
        # Read the place-days of the nearest `limit` windows first: mostly they have enough
        # free places. If not, read all the other days at once (a second round trip at most).
        # The same answer as reading every day first.
        free: list[Slot] = []
        first = True
        for n, window in enumerate(candidates if limit > 0 else []):
            if window.id not in taken:
                ahead = [w for w in candidates[n:] if w.id not in taken]
                taken.update(await self._taken(self._next_days(ahead, limit) if first else ahead))
                first = False
            left = window.capacity - taken[window.id]
            if left > 0:
                free.append(Slot(window, left))
                if len(free) == limit:
                    break
        return free

    def _bookable_windows(self, service: str, place: str, days: Iterable[date]) -> list[Window]:
        now, today = self._clock(), self.today()
        return [
            window
            for day in days
            for window in self._catalog.windows(service, place, day)
            if self._refusal(window, now, today) is None
        ]

    @staticmethod
    def _next_days(ahead: Sequence[Window], wanted: int) -> list[Window]:
        """All windows of the place-days of the next `wanted` windows: read together."""
        days = {(w.place, w.day) for w in ahead[:wanted]}
        return [w for w in ahead if (w.place, w.day) in days]

    async def take(
        self,
        service: str,
        customer: str,
        window: Window,
        number: str,
        *,
        created: float,
        previous: tuple[float, float] | None = None,
    ) -> None:
        """Take the customer's time (Overlap), then a place in the window (WindowFull).

        `previous` is the appointment's current time when it is rescheduled: put back if the
        new window is full.
        """
        start, end = window.start.timestamp(), window.end.timestamp()
        other = await self._take_customer_time(customer, number, start, end, created)
        if other is not None:
            raise Overlap(other)
        ttl = max(int((window.end + WINDOW_KEEP).timestamp() - self._clock()), 86_400)
        key = _bookings_key(window.place, window.day)
        args: list[str | float] = [window.id, number, window.capacity, ttl]
        if await guarded(self._batch.run(self._take_window, [key], args)):
            return
        if previous is not None:
            await self.set_time(customer, number, *previous)
        else:
            await self.free_time(customer, number)
        nearest = await self.nearest(service, window.place, start, NEAREST, exclude=window.id)
        raise WindowFull(tuple(nearest))

    async def release_window(self, window_id: str, place: str, number: str) -> bool:
        """Free the place `number` held in the window; False if it held none."""
        key = keys.window_bookings(place, window_day(window_id))
        return bool(
            await guarded(self._batch.run(self._release_window, [key], [window_id, number]))
        )

    async def _taken(self, windows: Sequence[Window]) -> dict[str, int]:
        """Places taken per window id: one read per place-day, sent together."""
        by_day: dict[str, list[str]] = {}
        for window in windows:
            key = _bookings_key(window.place, window.day)
            by_day.setdefault(key, []).append(window.id)
        if not by_day:
            return {}
        # Futures, not coroutines: gathering them makes no task per place-day.
        reads = [self._batch.submit(self._taken_script, [key], ids) for key, ids in by_day.items()]
        counts: list[list[str | None]] = await guarded(asyncio.gather(*reads))
        return {
            window_id: int(count or 0)
            for ids, found in zip(by_day.values(), counts, strict=True)
            for window_id, count in zip(ids, found, strict=True)
        }

    async def _take_customer_time(
        self, customer: str, number: str, start: float, end: float, created: float
    ) -> str | None:
        key_list = [keys.customer_appointments(customer), keys.customer_appointment_list(customer)]
        now = self._clock()
        args: list[str | float] = [number, start, end, now, keys.CUSTOMER_TTL_S, created]
        other: str = await guarded(
            self._batch.run(self._take_time, key_list, [*args, HISTORY_KEEP])
        )
        return other or None

    async def set_time(self, customer: str, number: str, start: float, end: float) -> None:
        """Put back the booked time of `number` (undoing a reschedule that failed)."""
        key = keys.customer_appointments(customer)
        await guarded(self._redis.hset(key, number, f"{start} {end}"))  # type: ignore[arg-type]

    async def free_time(self, customer: str, number: str) -> None:
        """`number` no longer keeps `customer` busy (cancelled, done, or a booking undone)."""
        key = keys.customer_appointments(customer)
        await guarded(self._redis.hdel(key, number))  # type: ignore[arg-type]

    async def appointment_numbers(self, customer: str, limit: int) -> list[str]:
        """The customer's appointment numbers, newest first."""
        key = keys.customer_appointment_list(customer)
        numbers: list[str] = await guarded(self._redis.zrevrange(key, 0, limit - 1))
        return numbers


def _known(windows: Iterable[Window], known: Taken | None) -> dict[str, int]:
    """Places taken in those of `windows` that `known` read."""
    if known is None:
        return {}
    taken = {}
    for window in windows:
        count = known.of(window)
        if count is not None:
            taken[window.id] = count
    return taken
