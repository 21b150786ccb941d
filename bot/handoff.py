"""Bringing a person in: the customer's side of a handoff and the agent's actions on it.

The engine knows only the `Handoff` protocol (`request`, `relay`); the desk calls the
agent's actions (`accept`, `say`, `hand_back`, `resolve`, `transfer`, `set_owner`). What a
customer reads because of an agent's action (someone joined, handed back, resolved) is
said in a turn of its own (`Engine.act`), serialised with the customer's turns, so the
conversation's mode can never be lost between the two.

Routing under first-contact responsibility: a customer who comes back (on any channel, once
verified) goes to the owner of their open case: reserved for the owner for a while when the
owner is online, otherwise queued marked with the owner; the owner is told either way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from bot.dialog import Turn
from bot.i18n import Catalogs, Text, _
from bot.messages import Entry
from bot.services.case_records import Case, CaseDraft
from bot.services.desk_bus import SUPERVISORS, DeskBus, DeskEvent, to_agent
from bot.services.handoff import HandoffRecord, Handoffs
from bot.store.conversations import ConversationStore, NewEntry

if TYPE_CHECKING:
    from bot.commands import Command
    from bot.domain import Domain
    from bot.engine import Engine

log = logging.getLogger(__name__)

# Minutes an agent spends on a conversation, for the customer's expected wait.
HANDLE_MINUTES = 4
# A customer silent this long leaves the queue, or an agent's hands; the case stays open.
IDLE_QUEUED_S = 10 * 60
IDLE_HELD_S = 15 * 60
IDLE_JOB = "handoff_idle"
LEAVE = "handoff:leave"
CALLBACK = "handoff:callback"
# Cases in these states are done: a new handoff opens a new case.
_DONE = frozenset({"closed"})


def wait_minutes(position: int, agents: int) -> int:
    """The expected wait at `position`: HANDLE_MINUTES for each round of `agents` ahead."""
    return math.ceil(position / agents) * HANDLE_MINUTES


class PresenceView(Protocol):
    async def online(self, names: Sequence[str] | None = None) -> list[str]: ...


class StatsSink(Protocol):
    async def add(self, field: str, amount: float = 1, now: float | None = None) -> None: ...


class Refused(Exception):
    """The agent may not do that to this conversation (not theirs, not held, no case)."""


@dataclass(frozen=True, slots=True)
class AgentRef:
    """Who acts: an agent's name and the name customers see."""

    name: str
    display: str


class DeskHandoff:
    """Queues, live chat and ownership, between the engine and the desk."""

    def __init__(
        self,
        handoffs: Handoffs,
        domain: Domain,
        bus: DeskBus,
        store: ConversationStore,
        catalogs: Catalogs,
        presence: PresenceView,
        stats: StatsSink,
        timezone: str,
    ) -> None:
        self.handoffs = handoffs
        self._domain = domain
        self._bus = bus
        self._store = store
        self._catalogs = catalogs
        self._presence = presence
        self._stats = stats
        self._zone = ZoneInfo(timezone)
        self._engine: Engine | None = None
        domain.scheduler.handle(IDLE_JOB, self._on_idle)

    def bind(self, engine: Engine) -> None:
        """The engine whose conversations this hands off (built after this object)."""
        self._engine = engine

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "DeskHandoff.bind(engine) was not called"
        return self._engine

    # --- The customer's side (the engine's Handoff protocol) ------------------------------

    async def request(self, turn: Turn, reason: str, case_number: str | None = None) -> None:
        """The customer (or a flow) asked for a person."""
        metrics = turn.services.metrics
        if metrics is not None:
            metrics.handoffs.labels(reason).inc()
        state = turn.state
        state.leave_flow()
        turn.understood()
        if not self._in_hours(turn.now()):
            self._offer_callback(turn)
            return
        case = await self._case_for(turn, case_number)
        owner = case.owner
        reserve = owner if owner and await self._presence.online([owner]) else None
        new, _since = await self.handoffs.enqueue(
            turn.conversation,
            case=case.number,
            owner=owner,
            reserve_for=reserve,
            reason=reason,
            locale=state.locale,
            customer=state.customer,
            preview=turn.text,
        )
        state.mode = "queued"
        position, minutes = await self._position(turn.conversation)
        await self.handoffs.told_position(turn.conversation, position)
        turn.say(
            _(
                "I am connecting you to an agent for case {number}. You are number {position} "
                "in the queue; the wait is about {minutes} minutes. Keep writing: the agent "
                "will see everything you send.",
                number=case.number,
                position=position,
                minutes=minutes,
            ),
            buttons=[(_("Leave the queue"), LEAVE)],
        )
        await self._watch_idle(turn.conversation, IDLE_QUEUED_S, turn.now())
        if new:
            await self._stats.add("handoffs", 1, turn.now())
            await self._bus.publish(DeskEvent("queue"))
            if owner:
                await self._alert(owner, "returned", case.number, turn.conversation, "customer")

    async def relay(self, turn: Turn, command: Command | None) -> bool:
        """A customer message while queued or held; False when no handoff is under way."""
        record = await self.handoffs.get(turn.conversation)
        if record is None or record.state not in ("queued", "held"):
            return False
        leaving = turn.inbound.payload == LEAVE or (
            command is not None and command.name == "cancel"
        )
        if record.state == "queued" and leaving:
            await self._leave(turn, record)
            return True
        await self.handoffs.heard(turn.conversation, turn.text)
        if record.state == "queued":
            turn.state.mode = "queued"
            position, minutes = await self._position(turn.conversation)
            turn.say(
                _(
                    "You are number {position} in the queue; the wait is about {minutes} "
                    "minutes. An agent will be with you soon.",
                    position=position,
                    minutes=minutes,
                ),
                buttons=[(_("Leave the queue"), LEAVE)],
            )
            await self._watch_idle(turn.conversation, IDLE_QUEUED_S, turn.now())
            await self._bus.publish(DeskEvent("queue"))  # desks show the new preview
            return True
        turn.state.mode = "agent"  # the agent answers; the bot stays silent
        await self._watch_idle(turn.conversation, IDLE_HELD_S, turn.now())
        await self._bus.publish(
            DeskEvent("entry", to_agent(record.agent or ""), {"conversation": turn.conversation})
        )
        return True

    async def _leave(self, turn: Turn, record: HandoffRecord) -> None:
        ended = await self.handoffs.end(
            turn.conversation, states=("queued",), agent=None, why="left"
        )
        if ended is None:  # an agent accepted at this very moment: they answer it
            now = await self.handoffs.get(turn.conversation)
            if now is not None and now.state == "held":
                turn.state.mode = "agent"
                target = to_agent(now.agent or "")
                await self._bus.publish(
                    DeskEvent("entry", target, {"conversation": turn.conversation})
                )
                return
        turn.state.mode = "bot"
        turn.say(
            _(
                "You have left the queue. Case {number} stays open and we will call you back "
                "if it needs it. What else can I do for you?",
                number=record.case or "",
            ),
            buttons=self.engine.menu(turn),
        )
        if record.case:
            await self.handoffs.note(record.case, "customer", "left the queue: call back")
        await self._bus.publish(DeskEvent("queue"))
        await self.tell_positions()

    def _in_hours(self, now: float) -> bool:
        opens, closes = self._domain.policy.service_hours
        local = datetime.fromtimestamp(now, self._zone).time()
        return opens <= local < closes

    def _offer_callback(self, turn: Turn) -> None:
        opens, closes = self._domain.policy.service_hours
        turn.say(
            _(
                "Our agents work from {opens} to {closes}, so nobody can take the chat now. "
                "Shall we call you back? You will get a case number with the time we "
                "promise to call.",
                opens=opens.strftime("%H:%M"),
                closes=closes.strftime("%H:%M"),
            ),
            buttons=[(_("Yes, call me back"), CALLBACK), (_("No, thanks"), "cmd:menu")],
        )

    async def _case_for(self, turn: Turn, number: str | None) -> Case:
        """The case this handoff is about: the one named, the conversation's or customer's
        open one, else a new enquiry case."""
        cases = self._domain.cases
        candidates: list[str] = [number] if number else []
        record = await self.handoffs.get(turn.conversation)
        if record is not None and record.case:
            candidates.append(record.case)
        for candidate in candidates:
            case = await cases.get(candidate)
            if case is not None and case.state not in _DONE:
                return case
        if turn.state.customer:
            for case in await cases.of_customer(turn.state.customer, limit=5):
                if case.state not in _DONE and case.kind != "callback":
                    return case
        return await cases.open(
            CaseDraft(
                kind="inquiry",
                conversation=turn.conversation,
                customer=turn.state.customer,
                locale=turn.state.locale,
                description=turn.text,
            )
        )

    async def _position(self, conversation: str) -> tuple[int, int]:
        """The conversation's place in the queue (1-based) and the expected wait in minutes."""
        position = await self.handoffs.position(conversation) or 1
        return position, wait_minutes(position, await self._agents_online())

    async def _agents_online(self) -> int:
        return max(len(await self._presence.online()), 1)

    async def tell_positions(self) -> None:
        """The queue moved: tell each waiting customer whose place changed."""
        agents = await self._agents_online()
        for n, record in enumerate(await self.handoffs.queue(), start=1):
            if record.position == n:
                continue
            text = _(
                "The queue has moved: you are now number {position}; the wait is about "
                "{minutes} minutes.",
                position=n,
                minutes=wait_minutes(n, agents),
            )
            await self._tell(record.conversation, record.locale, text)
            await self.handoffs.told_position(record.conversation, n)

    async def _tell(self, conversation: str, locale: str, text: Text) -> list[Entry]:
        """A line from the service into the customer's transcript (their event feed)."""
        now = self._domain.clock()
        entry = NewEntry("bot", self._catalogs.render(locale, text), now)
        saved = await self._store.append(conversation, [entry])
        await self._domain.outbox.relay(conversation, locale, saved, news=True)
        return saved

    async def _watch_idle(self, conversation: str, idle_s: float, now: float) -> None:
        await self._domain.scheduler.at(
            now + idle_s, f"idle:{conversation}", IDLE_JOB, conversation
        )

    async def _on_idle(self, conversation: str) -> None:
        """The customer has been silent too long: the case stays open for a callback."""
        record = await self.handoffs.get(conversation)
        if record is None or record.state not in ("queued", "held"):
            return
        limit = IDLE_QUEUED_S if record.state == "queued" else IDLE_HELD_S
        now = self._domain.clock()
        if now - record.seen < limit - 1:
            await self._watch_idle(conversation, limit, record.seen)
            return
        ended = await self.handoffs.end(
            conversation, states=("queued", "held"), agent=None, why="silent"
        )
        if ended is None:
            return
        if record.case:
            await self.handoffs.note(record.case, "system", "customer silent: call back")

        async def back_to_bot(turn: Turn) -> None:
            turn.state.mode = "bot"
            turn.say(
                _(
                    "We have not heard from you for a while, so I have closed this chat. "
                    "Case {number} stays open and we will call you back.",
                    number=record.case or "",
                ),
                buttons=self.engine.menu(turn),
            )

        await self.engine.act(conversation, back_to_bot)
        await self._bus.publish(DeskEvent("queue"))
        if record.agent:
            await self._bus.publish(
                DeskEvent(
                    "alert",
                    to_agent(record.agent),
                    {"level": "silent", "case": record.case, "conversation": conversation},
                )
            )
        await self.tell_positions()

    # --- The agent's side (the desk) ------------------------------------------------------

    async def accept(self, conversation: str, agent: AgentRef) -> HandoffRecord:
        """`agent` takes a queued conversation (Taken when someone else has): first contact
        makes them the owner of its case, or a helper of the owner."""
        record = await self.handoffs.accept(conversation, agent.name)
        now = self._domain.clock()
        if record.case:
            role, owner = await self.handoffs.take_case(record.case, agent.name)
            case = await self._domain.cases.get(record.case)
            if case is not None and case.state == "received":
                await self._domain.cases.move(
                    record.case, "assigned", actor=agent.name, internal=True
                )
            if role == "helper" and owner:
                await self._alert(owner, "helper", record.case, conversation, agent.name)
        await self._stats.add("waits", 1, now)
        await self._stats.add("wait_s", max(now - record.since, 0.0), now)

        async def joined(turn: Turn) -> None:
            turn.state.mode = "agent"
            turn.state.leave_flow()
            turn.say(_("{agent} from customer service is now with you.", agent=agent.display))

        await self.engine.act(conversation, joined)
        await self._watch_idle(conversation, IDLE_HELD_S, now)
        await self._bus.publish(DeskEvent("queue"))
        await self._bus.publish(
            DeskEvent("conversation", data={"conversation": conversation, "holder": agent.name})
        )
        await self.tell_positions()
        return record

    async def _held(self, conversation: str, agent: str) -> HandoffRecord:
        record = await self.handoffs.get(conversation)
        if record is None or record.state != "held" or record.agent != agent:
            raise Refused("the conversation is not held by this agent")
        return record

    async def say(self, conversation: str, agent: AgentRef, text: str) -> Entry:
        """An agent's message to the customer, into their transcript (their channel's feed)."""
        record = await self._held(conversation, agent.name)
        entry = NewEntry("agent", text, self._domain.clock(), author=agent.display)
        saved = await self._store.append(conversation, [entry])
        await self._domain.outbox.relay(conversation, record.locale, saved)
        return saved[-1]

    async def hand_back(self, conversation: str, agent: AgentRef, *, rate: bool) -> None:
        """The bot takes over again; with `rate`, it asks for a rating of the resolved case."""
        record = await self._held(conversation, agent.name)
        await self.handoffs.end(conversation, states=("held",), agent=agent.name, why="handback")
        case = await self._domain.cases.get(record.case) if record.case else None

        async def back(turn: Turn) -> None:
            turn.state.mode = "bot"
            turn.say(_("{agent} has handed you back to the assistant.", agent=agent.display))
            if rate and case is not None and case.state == "resolved" and case.rating is None:
                await self.engine.start_flow(turn, "rate", "score", {"subject": case.number})
            else:
                turn.say(_("What else can I do for you?"), buttons=self.engine.menu(turn))

        await self.engine.act(conversation, back)
        await self._bus.publish(DeskEvent("conversation", data={"conversation": conversation}))

    async def resolve(self, conversation: str, agent: AgentRef, note: str) -> Case:
        """The agent resolves the case: the customer is told and asked for a rating."""
        record = await self._held(conversation, agent.name)
        if not record.case:
            raise Refused("this conversation has no case")
        cases = self._domain.cases
        case = await cases.get(record.case)
        if case is None:
            raise Refused("the case no longer exists")
        # A customer back about a resolved (not yet closed) case reopens it.
        if case.state in ("received", "assigned", "resolved"):
            if case.state == "received":
                await cases.move(case.number, "assigned", actor=agent.name, internal=True)
            await cases.move(case.number, "in_progress", actor=agent.name, internal=True)
        # The resolved notice brings the rating buttons (bot/services/notices.py).
        resolved = await cases.move(case.number, "resolved", actor=agent.name, note=note)
        await self.handoffs.end(conversation, states=("held",), agent=agent.name, why="resolved")

        async def done(turn: Turn) -> None:
            turn.state.mode = "bot"
            if resolved.conversation != conversation:
                # The notice goes to the conversation the case began in; the customer is here.
                turn.say(_("Your case {number} has been resolved.", number=resolved.number))
                await self.engine.start_flow(turn, "rate", "score", {"subject": resolved.number})

        await self.engine.act(conversation, done)
        await self._bus.publish(DeskEvent("conversation", data={"conversation": conversation}))
        return resolved

    async def transfer(
        self,
        conversation: str,
        agent: AgentRef,
        *,
        to: AgentRef | None,
        team: str | None,
        note: str,
    ) -> None:
        """Pass the conversation to another agent (a helper: the owner stays the owner) or
        back to the queue for a team."""
        record = await self._held(conversation, agent.name)
        if to is None and not team:
            raise Refused("a transfer needs an agent or a team")
        if not await self.handoffs.transfer(
            conversation, agent.name, to=to.name if to else None, team=team
        ):
            raise Refused("the conversation is not held by this agent")
        target = to.name if to else f"team {team}"
        if record.case:
            await self.handoffs.note(record.case, agent.name, f"transfer to {target}: {note}")
            if to is not None:
                await self.handoffs.take_case(record.case, to.name)
            case = await self._domain.cases.get(record.case)
            if case is not None and case.owner and case.owner != agent.name:
                await self._alert(case.owner, "transfer", record.case, conversation, target)
        if to is not None:
            await self._alert(to.name, "transfer", record.case, conversation, agent.name)
            text = _("{agent} is taking over your conversation.", agent=to.display)
        else:
            text = _("I am passing you to colleagues who know this best; please stay here.")

        async def moved(turn: Turn) -> None:
            turn.state.mode = "agent" if to is not None else "queued"
            turn.say(text)

        await self.engine.act(conversation, moved)
        await self._bus.publish(DeskEvent("queue"))
        await self._bus.publish(DeskEvent("conversation", data={"conversation": conversation}))

    async def set_owner(self, number: str, owner: str, *, by: str, reason: str) -> str | None:
        """A supervisor gives a case another owner (the reason goes into its archive); the
        former owner, or None when there is no such case."""
        former = await self.handoffs.set_owner(number, owner, by=by, reason=reason)
        if former is None:
            return None
        await self._alert(owner, "owner", number, None, by)
        if former and former != owner:
            await self._alert(former, "owner", number, None, by)
        await self._bus.publish(DeskEvent("case", SUPERVISORS, {"number": number}))
        return former

    async def _alert(
        self, agent: str, level: str, case: str | None, conversation: str | None, by: str
    ) -> None:
        data = {"level": level, "case": case, "conversation": conversation, "by": by}
        await self._bus.publish(DeskEvent("alert", to_agent(agent), data))
