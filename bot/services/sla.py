"""The SLA clock: warnings at 80 % of each promised time, breaches at 100 % (DESIGN.md 4).

Each due time of a case (response, repair, ...) gets two scheduler jobs when the case
opens: `sla:<case>:<due>:warn` at created + 80 % of the span and `sla:<case>:<due>:breach`
at the due time. A move that meets a due cancels both and counts it met on time or late.
Alerts fire exactly once across processes twice over: the scheduler hands each job to one
process, and an alert goes out only when marking the case (`sla_warned`, `sla_breached`)
changed it.

A due is met when the case reaches a state that keeps the promise: the response by
`assigned` or any later state, every other due by `resolved` or `closed`. A reopened case
(resolved -> in_progress) is not armed again: its resolution dues were met once and
counted then, and the desk sees them as unmet and overdue through `remaining`/`sla_state`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Literal

import redis.asyncio as aioredis

from bot.metrics import Metrics
from bot.services.cases import Case, CaseNotFound, Cases
from bot.services.desk_bus import SUPERVISORS, DeskBus, DeskEvent, to_agent
from bot.services.scheduler import Scheduler
from bot.services.stats import Stats

log = logging.getLogger(__name__)

JOB_KIND = "sla"
LEVELS = ("warn", "breach")
# The states that meet a response due; every other due is met by these two only.
_ANSWERED = frozenset({"assigned", "in_progress", "resolved", "closed"})
_SETTLED = frozenset({"resolved", "closed"})

SlaState = Literal["on_time", "warned", "breached"]


def due_met(due: str, state: str | None) -> bool:
    """Whether a case in `state` has kept its `due` promise (None: not opened yet)."""
    return state in (_ANSWERED if due == "response" else _SETTLED)


def job_id(number: str, due: str, level: str) -> str:
    """The scheduler job of one alert: one per case, due and level, so arming is idempotent."""
    return f"{JOB_KIND}:{number}:{due}:{level}"


class SlaClock:
    """Arms, settles and fires the SLA alerts of every case, and reports where each stands."""

    def __init__(
        self,
        redis: aioredis.Redis,
        scheduler: Scheduler,
        cases: Cases,
        bus: DeskBus,
        stats: Stats,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        warn_at: float = 0.8,
    ) -> None:
        # `redis` is unused: it keeps the shared constructor signature, while every write
        # goes through the cases, the scheduler and the stats, which own their keys.
        if not 0 < warn_at < 1:
            raise ValueError(f"warn_at is a fraction of the span between 0 and 1, got {warn_at}")
        self._scheduler = scheduler
        self._cases = cases
        self._bus = bus
        self._stats = stats
        self._metrics = metrics
        self._clock = clock
        self._warn_at = warn_at
        cases.observe(self._observe)
        scheduler.handle(JOB_KIND, self._fire)

    def warn_time(self, case: Case, due: str) -> float:
        """When `due` of `case` earns a warning: `warn_at` of the way from opening to due."""
        return case.created + self._warn_at * (case.due[due] - case.created)

    def remaining(self, case: Case, now: float | None = None) -> dict[str, float]:
        """Seconds left to each unmet due (negative when overdue), for the desk's countdowns;
        met dues are left out. `now` defaults to the clock's now."""
        now = self._clock() if now is None else now
        return {due: at - now for due, at in case.due.items() if not due_met(due, case.state)}

    def sla_state(self, case: Case, now: float | None = None) -> SlaState:
        """Where the case's unmet dues stand, for the supervisor's three lists: "breached" when
        one is overdue, "warned" when one is past `warn_at` of its span, else "on_time"."""
        now = self._clock() if now is None else now
        unmet = [due for due in case.due if not due_met(due, case.state)]
        if any(now >= case.due[due] for due in unmet):
            return "breached"
        if any(now >= self.warn_time(case, due) for due in unmet):
            return "warned"
        return "on_time"

    async def _observe(self, case: Case, moved_from: str | None) -> None:
        if moved_from is None:
            await self._arm(case)
            return
        for due in case.due:
            if due_met(due, case.state) and not due_met(due, moved_from):
                await self._settle(case, due)

    async def _arm(self, case: Case) -> None:
        jobs = []
        for due, at in case.due.items():
            for level, when in (("warn", self.warn_time(case, due)), ("breach", at)):
                data = json.dumps({"case": case.number, "due": due, "level": level})
                jobs.append(
                    self._scheduler.at(when, job_id(case.number, due, level), JOB_KIND, data)
                )
        await asyncio.gather(*jobs)  # one pipeline through the scheduler's batcher

    async def _settle(self, case: Case, due: str) -> None:
        """The move met `due`: drop its alerts and count it once (a reopened case that is
        resolved again is not counted twice)."""
        await asyncio.gather(
            *(self._scheduler.cancel(job_id(case.number, due, level)) for level in LEVELS)
        )
        if not await self._cases.mark_sla(case.number, "sla_met", due):
            return
        on_time = case.updated <= case.due[due]
        await self._stats.add("sla_met" if on_time else "sla_late", now=case.updated)
        self._metrics.sla_met.labels(due, str(on_time).lower()).inc()

    async def _fire(self, data: str) -> None:
        try:
            job = json.loads(data)
            number, due, level = str(job["case"]), str(job["due"]), str(job["level"])
        except (ValueError, KeyError, TypeError):
            log.error("ignoring a malformed SLA job")
            return
        case = await self._cases.get(number)
        if case is None or due not in case.due or due_met(due, case.state):
            return  # expired, or met in the moment between the job's pop and now
        if level == "warn":
            await self._warn(case, due)
        elif level == "breach":
            await self._breach(case, due)
        else:
            log.error("ignoring an SLA job of unknown level %s", level)

    async def _warn(self, case: Case, due: str) -> None:
        if not await self._mark(case, "sla_warned", due):
            return
        to = to_agent(case.owner) if case.owner else SUPERVISORS
        await self._bus.publish(self._alert(case, due, "warn", to))
        self._metrics.sla_warnings.labels(due).inc()

    async def _breach(self, case: Case, due: str) -> None:
        if not await self._mark(case, "sla_breached", due):
            return
        await self._bus.publish(self._alert(case, due, "breach", SUPERVISORS))
        if case.owner:
            await self._bus.publish(self._alert(case, due, "breach", to_agent(case.owner)))
        self._metrics.sla_breaches.labels(due).inc()
        # The day the promise was broken, even when the alert comes late (a restart).
        await self._stats.add("sla_breached", now=case.due[due])

    async def _mark(self, case: Case, field: str, due: str) -> bool:
        try:
            return await self._cases.mark_sla(case.number, field, due)
        except CaseNotFound:
            return False  # expired since it was read

    def _alert(self, case: Case, due: str, level: str, to: str) -> DeskEvent:
        data: dict[str, object] = {
            "level": level,
            "case": case.number,
            "due": due,
            "due_at": case.due[due],
        }
        if case.conversation:
            data["conversation"] = case.conversation
        return DeskEvent("alert", to, data)
