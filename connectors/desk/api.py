"""The agent desk's JSON API: queue, live chat, case panel, profile and supervisor view.

Every route runs behind `connectors/desk/auth.py` (session cookie, CSRF token on changes).
Agents see the queue and what they hold, own or help with; supervisors see everything.
Customer text is returned as data and rendered with `textContent` by the desk, never HTML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.handoff import AgentRef, DeskHandoff, Refused
from bot.i18n import Catalogs
from bot.services.agents import Agent, Agents, Presence, Sessions
from bot.services.case_records import Case, IllegalTransition
from bot.services.cases import ALLOWED_FROM, Cases
from bot.services.customers import Customers
from bot.services.desk_bus import SUPERVISORS, DeskBus, DeskEvent
from bot.services.handoff import HandoffRecord, Taken
from bot.services.sla import SlaClock
from bot.services.stats import Stats
from bot.store.conversations import ConversationStore
from connectors.desk.auth import DESK_SESSION, require_supervisor
from connectors.desk.canned import CANNED
from connectors.desk.charts import chart_svg
from connectors.errors import ApiError
from connectors.webchat.contract import decode_json

MAX_MESSAGE_CHARS = 2_000
MAX_NOTE_CHARS = 1_000
HISTORY = 200
STATUSES = ("online", "away", "offline")


def mask_phone(phone: str | None) -> str | None:
    """138****8000: enough to recognise, not enough to use."""
    if not phone:
        return None
    if len(phone) <= 7:
        return phone[:1] + "*" * (len(phone) - 1)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


@dataclass(slots=True)
class DeskParts:
    """What the desk works with, built once by the composition root."""

    handoff: DeskHandoff
    agents: Agents
    sessions: Sessions
    presence: Presence
    cases: Cases
    customers: Customers
    store: ConversationStore
    bus: DeskBus
    sla: SlaClock
    stats: Stats
    catalogs: Catalogs


class DeskApi:
    """Routes under /desk/api/ (login and logout live in auth.py)."""

    def __init__(self, parts: DeskParts) -> None:
        self.parts = parts

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/desk/api/presence", self.set_presence),
            web.get("/desk/api/queue", self.queue),
            web.get("/desk/api/canned", self.canned),
            web.get("/desk/api/agents", self.agents),
            web.get("/desk/api/conversations", self.mine),
            web.get("/desk/api/conversations/{cid}", self.conversation),
            web.post("/desk/api/conversations/{cid}/accept", self.accept),
            web.post("/desk/api/conversations/{cid}/messages", self.message),
            web.post("/desk/api/conversations/{cid}/canned", self.send_canned),
            web.post("/desk/api/conversations/{cid}/handback", self.hand_back),
            web.post("/desk/api/conversations/{cid}/transfer", self.transfer),
            web.post("/desk/api/conversations/{cid}/resolve", self.resolve),
            web.get("/desk/api/cases/{number}", self.case),
            web.post("/desk/api/cases/{number}/state", self.move_case),
            web.post("/desk/api/cases/{number}/notes", self.note),
            web.post("/desk/api/cases/{number}/owner", self.set_owner),
            web.post("/desk/api/customers/{customer}/reveal", self.reveal),
            web.get("/desk/api/supervisor/overview", self.overview),
            web.get("/desk/api/supervisor/charts/{name}.svg", self.chart),
        ]

    # --- Presence, queue, canned replies ------------------------------------------------

    async def set_presence(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        status = _field(await _body(request), "status", 10)
        if status not in STATUSES:
            raise ApiError(422, "invalid_field", "“status” must be online, away or offline.")
        await self.parts.presence.set(agent.name, status)
        return web.json_response({"status": status})

    async def queue(self, request: web.Request) -> web.Response:
        _agent(request)
        records = await self.parts.handoff.handoffs.queue()
        now = self.parts.cases.clock()  # the runtime's clock, as the SLA clock's
        entries = [
            {**_record(r), "position": n, "waited_s": round(max(now - r.since, 0))}
            for n, r in enumerate(records, start=1)
        ]
        return _json({"entries": entries})

    async def canned(self, request: web.Request) -> web.Response:
        _agent(request)
        render = self.parts.catalogs.render
        replies = [
            {
                "id": key,
                "title": render(_locale(request), title),
                "text_zh": render("zh", text),
                "text_en": render("en", text),
            }
            for key, (title, text) in CANNED.items()
        ]
        return _json({"replies": replies})

    async def agents(self, request: web.Request) -> web.Response:
        _agent(request)
        statuses = await self.parts.presence.all()
        listing = [
            {
                "name": a.name,
                "display": a.display,
                "role": a.role,
                "team": a.team,
                "status": statuses.get(a.name, "offline"),
            }
            for a in await self.parts.agents.all()
        ]
        return _json({"agents": listing})

    # --- Conversations ------------------------------------------------------------------

    async def mine(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        held = [_record(record) for record in await self._held(agent)]
        owned = []
        for number in await self.parts.handoff.handoffs.owned_by(agent.name):
            case = await self.parts.cases.get(number)
            if case is not None and case.owner == agent.name:  # the index may lag a change
                owned.append(self._case_body(case))
        return _json({"held": held, "owned": owned})

    async def conversation(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        cid = request.match_info["cid"]
        record = await self._record(cid)
        case = await self.parts.cases.get(record.case) if record.case else None
        self._may_see(agent, record, case)
        entries = await self.parts.store.read(cid, 0, HISTORY)
        customer = None
        if record.customer:
            found = await self.parts.customers.get(record.customer)
            customer = {
                "id": record.customer,
                "phone_masked": mask_phone(found.phone if found else None),
                "verified": found is not None,
            }
        body = {
            "conversation": cid,
            "mode": record.state,
            "holder": record.agent,
            "locale": record.locale,
            "case": self._case_body(case) if case else None,
            "customer": customer,
            "entries": [e.as_dict() for e in entries],
        }
        return _json(body)

    async def accept(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        cid = request.match_info["cid"]
        await self._record(cid)
        try:
            record = await self.parts.handoff.accept(cid, _ref(agent))
        except Taken as taken:
            raise ApiError(409, "taken", f"The conversation is {taken.why}.") from None
        return _json({"conversation": cid, "case": record.case})

    async def message(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        cid = request.match_info["cid"]
        text = _field(await _body(request), "text", MAX_MESSAGE_CHARS)
        if not text.strip():
            raise ApiError(422, "invalid_field", "“text” must not be empty.")
        entry = await self._refusing(self.parts.handoff.say(cid, _ref(agent), text))
        return _json({"entry": entry.as_dict()})

    async def send_canned(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        cid = request.match_info["cid"]
        key = _field(await _body(request), "id", 40)
        if key not in CANNED:
            raise ApiError(422, "invalid_field", "No canned reply has this id.")
        record = await self._record(cid)
        text = self.parts.catalogs.render(record.locale, CANNED[key][1])
        entry = await self._refusing(self.parts.handoff.say(cid, _ref(agent), text))
        return _json({"entry": entry.as_dict()})

    async def hand_back(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        body = await _body(request)
        rate = body.get("rate") is True
        await self._refusing(
            self.parts.handoff.hand_back(request.match_info["cid"], _ref(agent), rate=rate)
        )
        return _json({"ok": True})

    async def transfer(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        body = await _body(request)
        note = _optional(body, "note", MAX_NOTE_CHARS)
        target_name = _optional(body, "agent", 40)
        team = _optional(body, "team", 40) or None
        target = None
        if target_name:
            found = await self.parts.agents.get(target_name)
            if found is None:
                raise ApiError(422, "invalid_field", "No agent has this name.")
            target = _ref(found)
        await self._refusing(
            self.parts.handoff.transfer(
                request.match_info["cid"], _ref(agent), to=target, team=team, note=note
            )
        )
        return _json({"ok": True})

    async def resolve(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        note = _optional(await _body(request), "note", MAX_NOTE_CHARS)
        case = await self._refusing(
            self.parts.handoff.resolve(request.match_info["cid"], _ref(agent), note)
        )
        return _json({"case": self._case_body(case)})

    # --- Cases --------------------------------------------------------------------------

    async def case(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        case = await self._case(request.match_info["number"])
        await self._may_touch_case(agent, case)
        events = await self.parts.cases.events(case.number)
        body = {
            "case": self._case_body(case),
            "events": [
                {
                    "ts": e.ts,
                    "actor": e.actor,
                    "from": e.from_state,
                    "to": e.to_state,
                    "note": e.note,
                }
                for e in events
            ],
        }
        return _json(body)

    async def move_case(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        case = await self._case(request.match_info["number"])
        await self._may_touch_case(agent, case)
        body = await _body(request)
        to = _field(body, "to", 20)
        if to not in ALLOWED_FROM:
            raise ApiError(422, "invalid_field", "“to” is not a case state.")
        note = _optional(body, "note", MAX_NOTE_CHARS)
        try:
            moved = await self.parts.cases.move(case.number, to, actor=agent.name, note=note)
        except IllegalTransition as error:
            raise ApiError(409, "illegal_transition", str(error)) from None
        return _json({"case": self._case_body(moved)})

    async def note(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        case = await self._case(request.match_info["number"])
        await self._may_touch_case(agent, case)
        note = _field(await _body(request), "note", MAX_NOTE_CHARS)
        await self.parts.handoff.handoffs.note(case.number, agent.name, note)
        await self.parts.bus.publish(DeskEvent("case", data={"number": case.number}))
        return _json({"ok": True})

    async def set_owner(self, request: web.Request) -> web.Response:
        supervisor = require_supervisor(request)
        case = await self._case(request.match_info["number"])
        body = await _body(request)
        owner = _field(body, "owner", 40)
        reason = _field(body, "reason", MAX_NOTE_CHARS)
        if not reason.strip():
            raise ApiError(422, "invalid_field", "A change of owner needs a reason.")
        if await self.parts.agents.get(owner) is None:
            raise ApiError(422, "invalid_field", "No agent has this name.")
        former = await self.parts.handoff.set_owner(
            case.number, owner, by=supervisor.name, reason=reason
        )
        return _json({"owner": owner, "former": former or None})

    async def reveal(self, request: web.Request) -> web.Response:
        agent = _agent(request)
        customer_id = request.match_info["customer"]
        reason = _field(await _body(request), "reason", MAX_NOTE_CHARS)
        if not reason.strip():
            raise ApiError(422, "invalid_field", "Revealing a phone number needs a reason.")
        found = await self.parts.customers.get(customer_id)
        if found is None:
            raise ApiError(404, "not_found", "No such customer.")
        if agent.role != "supervisor" and not await self._serves(agent, customer_id):
            raise ApiError(403, "forbidden", "This customer is not yours.")
        await self.parts.handoff.handoffs.audit(agent.name, "reveal", customer_id, reason)
        return _json({"phone": found.phone})

    # --- Supervisor ---------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.Response:
        require_supervisor(request)
        parts = self.parts
        statuses = await parts.presence.all()
        agents = []
        for a in await parts.agents.all():
            load = len(await parts.handoff.handoffs.held_by(a.name))
            status = statuses.get(a.name, "offline")
            agents.append(
                {
                    "name": a.name,
                    "display": a.display,
                    "role": a.role,
                    "status": status,
                    "load": load,
                }
            )
        queue = [_record(r) for r in await parts.handoff.handoffs.queue()]
        now = self.parts.cases.clock()
        by_state: dict[str, list[dict[str, Any]]] = {"on_time": [], "warned": [], "breached": []}
        for number in await parts.handoff.handoffs.open_cases():
            case = await parts.cases.get(number)
            if case is not None:
                by_state[parts.sla.sla_state(case, now)].append(self._case_body(case))
        today = summary(await parts.stats.day(parts.stats.today()))
        return _json({"agents": agents, "queue": queue, "cases": by_state, "today": today})

    async def chart(self, request: web.Request) -> web.Response:
        require_supervisor(request)
        name = request.match_info["name"]
        svg = await chart_svg(self.parts.stats, name, _locale(request), self.parts.catalogs)
        if svg is None:
            raise ApiError(404, "not_found", "No such chart.")
        return web.Response(text=svg, content_type="image/svg+xml")

    # --- Helpers ------------------------------------------------------------------------

    async def _record(self, cid: str) -> HandoffRecord:
        record = await self.parts.handoff.handoffs.get(cid)
        if record is None:
            raise ApiError(404, "not_found", "No handoff for this conversation.")
        return record

    async def _case(self, number: str) -> Case:
        case = await self.parts.cases.get(number.strip().upper())
        if case is None:
            raise ApiError(404, "not_found", "No such case.")
        return case

    def _may_see(self, agent: Agent, record: HandoffRecord, case: Case | None) -> None:
        if not may_see(agent, record, case):
            raise ApiError(403, "forbidden", "This conversation is not yours.")

    async def _may_touch_case(self, agent: Agent, case: Case) -> None:
        """A case is its owner's and helpers', any supervisor's, and the agent's who holds a
        conversation about it (whichever conversation the customer came back on)."""
        if agent.role == "supervisor" or agent.name in _people(case):
            return
        if any(r.case == case.number for r in await self._held(agent)):
            return
        raise ApiError(403, "forbidden", "This case is not yours.")

    async def _serves(self, agent: Agent, customer_id: str) -> bool:
        return any(r.customer == customer_id for r in await self._held(agent))

    async def _held(self, agent: Agent) -> list[HandoffRecord]:
        """The handoffs `agent` holds now."""
        handoffs = self.parts.handoff.handoffs
        records = [await handoffs.get(c) for c in await handoffs.held_by(agent.name)]
        return [r for r in records if r is not None and r.state == "held" and r.agent == agent.name]

    def _case_body(self, case: Case) -> dict[str, Any]:
        now = self.parts.cases.clock()
        return {
            "number": case.number,
            "kind": case.kind,
            "state": case.state,
            "owner": case.owner,
            "helpers": sorted(_people(case) - {case.owner or ""}),
            "grade": case.grade,
            "category": case.category,
            "description": case.description,
            "conversation": case.conversation,
            "created": case.created,
            "updated": case.updated,
            "due": dict(case.due),
            "sla": self.parts.sla.sla_state(case, now),
            "remaining": self.parts.sla.remaining(case, now),
        }

    @staticmethod
    async def _refusing(call: Any) -> Any:
        try:
            return await call
        except Refused as refused:
            raise ApiError(403, "forbidden", str(refused)) from None
        except IllegalTransition as error:
            raise ApiError(409, "illegal_transition", str(error)) from None


def summary(day: dict[str, float]) -> dict[str, float | None]:
    """The day's figures for the supervisor: handoffs, mean wait, SLA compliance, CSAT."""
    waits, settled = (
        day.get("waits", 0),
        sum(day.get(name, 0) for name in ("sla_met", "sla_late", "sla_breached")),
    )
    return {
        "handoffs": day.get("handoffs", 0),
        "avg_wait_s": round(day.get("wait_s", 0) / waits, 1) if waits else None,
        "sla_compliance": round(day.get("sla_met", 0) / settled, 3) if settled else None,
        "csat": round(day.get("csat_sum", 0) / day["csat_n"], 2) if day.get("csat_n") else None,
    }


def may_see(agent: Agent, record: HandoffRecord, case: Case | None) -> bool:
    """Who may see a conversation (the API and the desk socket alike): anyone while it is
    queued; once held, its holder, its case's owner and helpers, and any supervisor."""
    if agent.role == "supervisor" or record.state == "queued" or record.agent == agent.name:
        return True
    return case is not None and agent.name in _people(case)


def _people(case: Case) -> set[str]:
    """The case's owner and helpers."""
    return {p for p in (case.owner or "", *case.helpers) if p}


def _agent(request: web.Request) -> Agent:
    agent: Agent = request[DESK_SESSION].agent
    return agent


def _ref(agent: Agent) -> AgentRef:
    return AgentRef(agent.name, agent.display)


def _locale(request: web.Request) -> str:
    return "en" if request.query.get("locale") == "en" else "zh"


def _record(record: HandoffRecord) -> dict[str, Any]:
    return {
        "conversation": record.conversation,
        "channel": record.conversation.partition(":")[0],
        "state": record.state,
        "since": record.since,
        "case": record.case,
        "owner": record.owner,
        "reserved_for": record.reserved_for,
        "holder": record.agent,
        "team": record.team,
        "reason": record.reason,
        "locale": record.locale,
        "preview": record.preview,
    }


async def _body(request: web.Request) -> dict[str, Any]:
    body = decode_json(await request.read() or b"{}")
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    return body


def _field(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(422, "invalid_field", f"“{name}” must be a string.")
    if len(value) > limit:
        raise ApiError(422, "too_long", f"“{name}” is longer than {limit} characters.")
    return value


def _optional(body: dict[str, Any], name: str, limit: int) -> str:
    return _field(body, name, limit) if body.get(name) is not None else ""


def _json(data: object) -> web.Response:
    return web.json_response(data, dumps=lambda d: json.dumps(d, ensure_ascii=False))


__all__ = ["SUPERVISORS", "DeskApi", "DeskParts", "mask_phone"]
