"""Cases (工单): fault reports, complaints, callbacks and feedback, with their archive.

A case is one Redis hash and one stream under the case's own hash tag. Every change of
state is one script that checks the move is allowed, applies it and appends the event to
the stream, so the archive can never disagree with the case. Case numbers come from a
per-day counter in the operator's time zone (bot/services/numbers.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot.services.case_records import (
    Case,
    CaseDraft,
    CaseEvent,
    CaseNotFound,
    IllegalTransition,
    decode,
    decode_event,
    encode,
    flatten,
    pairs,
)
from bot.services.case_scripts import (
    COUNT_SINCE,
    INDEX,
    MARK_SLA,
    MOVE,
    OPEN,
    RATE,
    SET_FIELDS,
)
from bot.services.issuing import NumberIssuer
from bot.services.numbers import CASE
from bot.services.outbox import SMS, Notice, Outbox
from bot.services.policy import COMPLAINT_CATEGORIES, Policy
from bot.services.vault import Vault, VaultError
from bot.store import keys
from bot.store.batching import ScriptBatcher
from bot.store.guard import guarded

__all__ = [
    "ALLOWED_FROM",
    "CASE_KINDS",
    "CASE_STATES",
    "Case",
    "CaseDraft",
    "CaseEvent",
    "CaseNotFound",
    "Cases",
    "IllegalTransition",
]

log = logging.getLogger(__name__)

# "inquiry": a customer handed to an agent with no other open case (first contact).
CASE_KINDS = ("fault", "complaint", "callback", "feedback", "inquiry")
CASE_STATES = ("received", "assigned", "in_progress", "resolved", "closed")
# Target state -> the states it may be reached from. resolved -> in_progress is the reopen
# when the customer says it is not fixed (DESIGN.md section 4, closed loop).
ALLOWED_FROM: Mapping[str, tuple[str, ...]] = {
    "assigned": ("received",),
    "in_progress": ("assigned", "resolved"),
    "resolved": ("in_progress",),
    "closed": ("resolved",),
}
# Fields set as they are: a rating goes through `rate` (once, only when resolved), and an
# owner will change only with an archive event (the desk).
SETTABLE_FIELDS = frozenset({"comment", "callback"})
# What the SLA clock marks on a case (space-separated due names): alerts sent, dues met.
SLA_MARKS = frozenset({"sla_warned", "sla_breached", "sla_met"})
# A counter could be lost (flushed, failed over) while cases survive: never overwrite one.
_OPEN_ATTEMPTS = 5


# Told of every case opened (`moved_from` None) or moved (`moved_from` the state it left):
# the SLA clock arms and settles its timers, the desk refreshes. Runs after the change is
# stored; an observer's failure is logged, never undoes the change or reaches the caller.
CaseObserver = Callable[[Case, str | None], Awaitable[None]]


class Cases:
    """Opens cases, moves them through their states and keeps their archive."""

    def __init__(
        self,
        redis: aioredis.Redis,
        policy: Policy,
        outbox: Outbox,
        vault: Vault,
        clock: Callable[[], float] = time.time,
        timezone: str = "Asia/Shanghai",
        batcher: ScriptBatcher | None = None,
    ) -> None:
        self._redis = redis
        # Scripts share the pipeline of concurrent turns (the store's, when given).
        self._batch = batcher or ScriptBatcher(redis)
        self._policy = policy
        self._outbox = outbox
        self._vault = vault
        self.clock = clock
        self._zone = ZoneInfo(timezone)
        self._numbers = NumberIssuer(redis, self._batch, CASE, timezone)
        self._open = redis.register_script(OPEN)
        self._move = redis.register_script(MOVE)
        self._set_fields = redis.register_script(SET_FIELDS)
        self._rate = redis.register_script(RATE)
        self._count_since = redis.register_script(COUNT_SINCE)
        self._file = redis.register_script(INDEX)
        self._mark_sla = redis.register_script(MARK_SLA)
        self._observers: list[CaseObserver] = []

    def observe(self, observer: CaseObserver) -> None:
        """Call `observer` after every open and every move of a case."""
        self._observers.append(observer)

    async def _tell(self, case: Case, moved_from: str | None) -> None:
        for observer in self._observers:
            try:
                await observer(case, moved_from)
            except Exception:
                log.exception("case observer failed on %s", case.number)

    async def open(self, draft: CaseDraft, *, actor: str | None = None, note: str = "") -> Case:
        """Open a case: a fresh number, its due times, the first archive event, its indexes.

        `actor` of the first event defaults to "system" for callbacks, else "customer".
        """
        _check_draft(draft)
        now = self.clock()
        grade = draft.grade.grade if draft.grade else None
        due = self._policy.due_times(draft.kind, now, grade)
        actor = actor or ("system" if draft.kind == "callback" else "customer")
        sealed = self._vault.seal(draft.contact) if draft.contact else None
        for _ in range(_OPEN_ATTEMPTS):
            number = await self._numbers.issue(now)
            fields = encode(number, draft, now, due, sealed)
            args: list[str | float] = [keys.CASE_TTL_S, now, actor, note, *flatten(fields)]
            keys_ = [keys.case(number), keys.case_events(number)]
            if await guarded(self._batch.run(self._open, keys_, args)):
                break
            log.warning("case number %s was taken already; issuing another", number)
        else:
            raise RuntimeError("could not issue a free case number")
        if draft.customer is not None:
            await self._index(draft.customer, number, draft.kind, now)
        case = self._decode(fields)
        await self._tell(case, None)
        return case

    async def get(self, number: str) -> Case | None:
        """The case with this number, or None."""
        reading = self._redis.hgetall(keys.case(number))
        fields: dict[str, str] = await guarded(reading)  # type: ignore[arg-type]
        return self._decode(fields) if fields else None

    async def move(
        self, number: str, to_state: str, *, actor: str, note: str = "", internal: bool = False
    ) -> Case:
        """Move a case to `to_state` (IllegalTransition if its state does not allow it).

        The note goes into the archive and, unless `internal`, to the customer as well."""
        case = await self._apply_move(
            number, to_state, actor, note, release=False, internal=internal
        )
        if case.kind == "callback" and to_state == "resolved" and case.parent:
            await self._release_parent(case)
        return case

    async def events(self, number: str) -> list[CaseEvent]:
        """The case's archive, oldest first."""
        entries = await guarded(self._redis.xrange(keys.case_events(number)))
        if not entries and not await guarded(self._redis.exists(keys.case(number))):
            raise CaseNotFound(number)
        return [decode_event(fields) for _id, fields in entries]

    async def of_customer(self, customer: str, limit: int = 10) -> list[Case]:
        """The customer's cases, newest first (expired ones left out)."""
        numbers = await guarded(self._redis.zrevrange(keys.customer_cases(customer), 0, limit - 1))
        if not numbers:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for number in numbers:
            pipe.hgetall(keys.case(number))
        found: list[dict[str, str]] = await guarded(pipe.execute())
        return [self._decode(fields) for fields in found if fields]

    async def complaints_since(self, customer: str, since: float) -> int:
        """How many complaints the customer opened at or after `since`."""
        key = keys.customer_complaints(customer)
        return int(await guarded(self._batch.run(self._count_since, [key], [since])))

    async def set_fields(self, number: str, **fields: str | int | None) -> Case:
        """Set rating, comment, callback or owner (None removes one); CaseNotFound if none."""
        unknown = sorted(set(fields) - SETTABLE_FIELDS)
        if unknown:
            raise ValueError(f"cannot set {unknown} on a case; settable: {sorted(SETTABLE_FIELDS)}")
        setting = {name: str(value) for name, value in fields.items() if value is not None}
        removing = [name for name, value in fields.items() if value is None]
        args: list[str | int] = [keys.CASE_TTL_S, len(setting), *flatten(setting), *removing]
        stored = await guarded(self._batch.run(self._set_fields, [keys.case(number)], args))
        if not stored:
            raise CaseNotFound(number)
        return self._decode(pairs(stored))

    async def rate(self, number: str, rating: int) -> str:
        """Record a rating once on a resolved case: "ok", "missing", "rated" or its state."""
        args = [rating, self.clock()]
        return str(await guarded(self._batch.run(self._rate, [keys.case(number)], args)))

    async def mark_sla(self, number: str, field: str, due: str) -> bool:
        """Add `due` to the case's `field` (one of SLA_MARKS) with an archive event; False
        when it was there already, so the SLA clock acts once per case, due and mark."""
        if field not in SLA_MARKS:
            raise ValueError(f"cannot mark {field!r} on a case; marks: {sorted(SLA_MARKS)}")
        note = f"{due} {field.removeprefix('sla_')}"
        args: list[str | float] = [field, due, self.clock(), note, keys.CASE_TTL_S]
        marked = await guarded(
            self._batch.run(self._mark_sla, [keys.case(number), keys.case_events(number)], args)
        )
        if marked == -1:
            raise CaseNotFound(number)
        return bool(marked)

    async def _index(self, customer: str, number: str, kind: str, now: float) -> None:
        index_keys = [keys.customer_cases(customer), keys.customer_complaints(customer)]
        args = [number, now, kind, keys.CUSTOMER_TTL_S, now - keys.CASE_TTL_S]
        await guarded(self._batch.run(self._file, index_keys, args))

    async def _apply_move(
        self,
        number: str,
        to_state: str,
        actor: str,
        note: str,
        *,
        release: bool,
        internal: bool = False,
    ) -> Case:
        if to_state not in ALLOWED_FROM:
            raise IllegalTransition(f"no case can move to {to_state!r}")
        allowed = " ".join(ALLOWED_FROM[to_state])
        args: list[str | float] = [to_state, allowed, actor, note, self.clock()]
        args += [keys.CASE_TTL_S, int(release)]
        result = await guarded(
            self._batch.run(self._move, [keys.case(number), keys.case_events(number)], args)
        )
        status = result[0]
        if status == "missing":
            raise CaseNotFound(number)
        if status == "illegal":
            raise IllegalTransition(f"case {number} is {result[1]}: it cannot move to {to_state}")
        if status == "held":
            raise IllegalTransition(f"case {number} waits for its callback case before closing")
        case = self._decode(pairs(result[2]))
        to = case.conversation or (f"{SMS}:{case.customer}" if case.customer else None)
        if to is not None:
            kind = "case_resolved" if to_state == "resolved" else "case_state"
            params = {"state": to_state, "note": "" if internal else note}
            notice = Notice(to, kind, number, case.locale, params, customer=case.customer)
            await self._outbox.publish(notice)
        await self._tell(case, str(result[1]))
        return case

    async def _release_parent(self, callback: Case) -> None:
        """A resolved callback closes the loop: its parent case closes if it is resolved."""
        parent = callback.parent or ""
        if not parent.startswith(CASE):
            return  # an appointment rated low: nothing more to close
        note = f"callback {callback.number} resolved"
        try:
            await self._apply_move(parent, "closed", "system", note, release=True, internal=True)
        except IllegalTransition:
            log.info("case %s not closed after its callback: it is not resolved", parent)
        except CaseNotFound:
            log.warning("case %s of callback %s no longer exists", parent, callback.number)

    def _decode(self, fields: Mapping[str, str]) -> Case:
        return decode(fields, self._open_contact)

    def _open_contact(self, number: str, sealed: str | None) -> str | None:
        if sealed is None:
            return None
        try:
            return self._vault.open(sealed)
        except VaultError:
            # Sealed under another key (e.g. a development key from an earlier start).
            log.warning("case %s: the contact cannot be opened with this key", number)
            return None


def _check_draft(draft: CaseDraft) -> None:
    if draft.kind not in CASE_KINDS:
        raise ValueError(f"unknown case kind {draft.kind!r}; expected one of {CASE_KINDS}")
    if draft.kind == "complaint" and draft.category not in COMPLAINT_CATEGORIES:
        raise ValueError(
            f"unknown complaint category {draft.category!r}; "
            f"expected one of {', '.join(COMPLAINT_CATEGORIES)}"
        )
