"""A turn: claim and load (1 round trip) -> commands -> flow -> save and release (1 round trip).

Turns of one conversation are serialised, in a process by an asyncio lock and across
processes by the Redis lock the CLAIM script takes; turns of different conversations never
wait on each other. A repeated message id is answered with what it produced the first time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bot.commands import Command, Commands
from bot.dialog import GREETING, Ahead, Early, Flow, Handoff, Prefetching, Services, Turn
from bot.errors import ConversationBusy, StoreUnavailable, UnknownConversation
from bot.i18n import Text, _, negotiate
from bot.messages import Entry, Inbound, TurnResult
from bot.services.customers import InvalidPhone
from bot.state import ConversationState
from bot.store import keys
from bot.store.conversations import Claim, ConversationStore, NewEntry
from bot.store.events import EventHub
from bot.store.guard import guarded

if TYPE_CHECKING:
    from bot.domain import Domain

log = logging.getLogger(__name__)

# Control characters other than newline and tab are dropped; so are unpaired surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_BLANK_LINES = re.compile(r"\n{3,}")
# Intents that mean a global command, whatever words the customer used.
_COMMAND_INTENTS = {"human_agent": "human", "cancel": "cancel"}
# A running flow is set aside for another only when the classifier is at least this sure
# that the customer asked for that other thing (and the flow could not use the message).
DIVERT_CONFIDENCE = 0.5
# Questions (the fallback flow) need more certainty: a wrong guess there answers nothing.
DIVERT_TO_FALLBACK_CONFIDENCE = 0.7
# Flows taken up again by themselves in one turn (a flow that called another, finishing).
_MAX_TAKE_UPS = 3
# Waiting for another process's turn of the same conversation: a little longer than its lock.
_BUSY_WAIT_S = keys.LOCK_TTL_MS / 1000 + 1
# Conversations whose last saved state this process keeps for prefetching flows (LRU): a
# miss only costs the read the flow then makes itself.
LAST_STATES_KEPT = 4096


def normalise(text: str, max_chars: int) -> str:
    """NFKC, no control characters, no runs of blank lines, at most `max_chars`."""
    text = _CONTROL.sub("", unicodedata.normalize("NFKC", text))
    return _BLANK_LINES.sub("\n\n", text).strip()[:max_chars]


def _mostly_digits(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return digits > 0 and digits >= sum(c.isalpha() for c in text)


def _retrieved(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


def conversation_key(inbound: Inbound) -> str:
    return f"{inbound.channel}:{inbound.chat}"


class _LocalLocks:
    """One asyncio lock per busy conversation, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def hold(self, key: str) -> _Held:
        """`async with`: the conversation's lock, held for the block."""
        return _Held(self, key)

    def enter(self, key: str) -> asyncio.Lock:
        """Count a user of the key's lock (made if new) and return the lock."""
        lock, users = self._locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        return lock

    def leave(self, key: str) -> None:
        lock, users = self._locks[key]
        if users <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)


class _Held:
    """Holding one conversation's local lock; a class, as cheap as a generator is dear."""

    __slots__ = ("_key", "_lock", "_locks")

    def __init__(self, locks: _LocalLocks, key: str) -> None:
        self._locks, self._key = locks, key

    async def __aenter__(self) -> None:
        self._lock = self._locks.enter(self._key)
        try:
            await self._lock.acquire()
        except BaseException:  # cancelled while waiting: not a user any more
            self._locks.leave(self._key)
            raise

    async def __aexit__(self, *_exc: object) -> None:
        self._lock.release()
        self._locks.leave(self._key)


class _Releasing:
    """`async with`: the conversation's lock is released if the block fails or is cancelled.
    A class, not a generator: a turn enters two, and a generator's costs four times more."""

    __slots__ = ("_key", "_store", "_token")

    def __init__(self, store: ConversationStore, key: str, token: str) -> None:
        self._store, self._key, self._token = store, key, token

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, *_exc: object) -> None:
        if kind is not None:
            with contextlib.suppress(StoreUnavailable):
                await asyncio.shield(self._store.release(self._key, self._token))


class Engine:
    """Answers customer messages; connectors call `handle` and render what it returns."""

    def __init__(
        self,
        store: ConversationStore,
        services: Services,
        commands: Commands,
        flows: Sequence[Flow],
        fallback: Flow,
        handoff: Handoff,
        domain: Domain,
        hub: EventHub | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.services = services
        self.domain = domain
        self.commands = commands
        self.handoff = handoff
        self.hub = hub
        self._clock = clock
        self._fallback = fallback
        self._flows = {flow.name: flow for flow in (*flows, fallback)}
        self._by_intent = {intent: flow for flow in flows for intent in flow.intents}
        self._locks = _LocalLocks()
        self._prefetching = {f.name: f for f in self._flows.values() if isinstance(f, Prefetching)}
        self._last: collections.OrderedDict[str, ConversationState] = collections.OrderedDict()

    async def handle(self, inbound: Inbound, *, create: bool = True) -> TurnResult:
        """Answer one message. `create=False` refuses a conversation that does not exist."""
        started = time.perf_counter()
        key = conversation_key(inbound)
        text = normalise(inbound.text, self.services.settings.max_text_chars)
        token = secrets.token_hex(8)
        outcome = "error"
        try:
            async with self._locks.hold(key):
                early = self._prefetch(key, inbound, text)  # leaves with the claim
                claim = await self._claim_once(key, token, inbound.message_id)
                if claim.status == "busy":
                    early = None  # read before another turn moved the conversation on
                    claim = await self._claim(key, token, inbound.message_id)
                if claim.status == "dup":
                    outcome = "duplicate"
                    return self._repeat(inbound, claim)
                async with self._releasing(key, token):
                    result = await self._turn(key, token, inbound, text, claim.state, create, early)
            outcome = "ok"
            return result
        finally:
            metrics = self.services.metrics
            if metrics is not None:
                metrics.turn(inbound.channel, outcome, time.perf_counter() - started)

    async def open(self, inbound: Inbound) -> TurnResult:
        """Start a conversation with a welcome, before the customer has said anything."""
        key = conversation_key(inbound)
        token = secrets.token_hex(8)
        async with self._locks.hold(key):
            claim = await self._claim(key, token, None)
            async with self._releasing(key, token):
                return await self._welcome(key, token, inbound, claim.state)

    async def act(self, conversation: str, action: Callable[[Turn], Awaitable[None]]) -> bool:
        """A turn without a customer message: `action` changes the state and says what the
        customer should read (an agent joined, handed back, resolved). Serialised with the
        conversation's own turns; False when there is no such conversation."""
        channel, _sep, chat = conversation.partition(":")
        inbound = Inbound(channel, chat)
        token = secrets.token_hex(8)
        async with self._locks.hold(conversation):
            claim = await self._claim(conversation, token, None)
            async with self._releasing(conversation, token):
                if claim.state is None:
                    await self.store.release(conversation, token)
                    return False
                state = ConversationState.from_json(claim.state)
                turn = Turn(inbound, "", state, self.services, self.domain, self)
                await action(turn)
                await self._take_up(turn)
                saved = await self._save(conversation, token, turn, customer=None)
        # Telegram, SMS and Rasa do not read the transcript: what was said is sent to them.
        await self.domain.outbox.relay(conversation, turn.state.locale, saved)
        if not saved:  # nothing said, but the mode may have changed: wake the readers
            seq = await self.store.poke(conversation)
            if self.hub is not None:
                self.hub.announce(conversation, seq)
        return True

    async def hand_off(self, turn: Turn, reason: str, case: str | None) -> None:
        """A flow decided a person should take over (Router)."""
        await self.handoff.request(turn, reason, case)

    async def start_flow(self, turn: Turn, name: str, step: str, slots: dict[str, object]) -> None:
        """Run flow `name` from `step` with `slots` (e.g. a rating asked for by an agent)."""
        flow = self._flows[name]
        turn.state.flow, turn.state.step, turn.state.slots = name, step, dict(slots)
        await flow.resume(turn)

    async def _welcome(
        self, key: str, token: str, inbound: Inbound, stored: str | None
    ) -> TurnResult:
        state = ConversationState.from_json(stored) if stored else self._new_state(inbound)
        turn = Turn(inbound, "", state, self.services, self.domain, self)
        turn.say(GREETING, buttons=self.menu(turn))
        saved = await self._save(key, token, turn, customer=None)
        return TurnResult(inbound.chat, state.mode, state.locale, saved)

    def _releasing(self, key: str, token: str) -> _Releasing:
        """Free the conversation if the turn fails or is cancelled before it saves."""
        return _Releasing(self.store, key, token)

    def _prefetch(self, key: str, inbound: Inbound, text: str) -> Early | None:
        """Let the flow the message is for start its reads now, before the claim is sent:
        the flow of the button, else the one running when this process last saved."""
        last = self._last.get(key)
        name: str | None = last.flow if last is not None else None
        if inbound.payload is not None:
            name = inbound.payload.partition(":")[0]
        flow = self._prefetching.get(name or "")
        if flow is None:
            return None
        return flow.prefetch(Ahead(inbound, text, last, self.services, self.domain))

    def _remember(self, key: str, state: ConversationState) -> None:
        """Keep the state just saved while a prefetching flow runs in it (see `_prefetch`)."""
        if state.flow in self._prefetching:
            self._last[key] = state
            self._last.move_to_end(key)
            if len(self._last) > LAST_STATES_KEPT:
                self._last.popitem(last=False)
        else:
            self._last.pop(key, None)

    async def _claim_once(self, key: str, token: str, message_id: str | None) -> Claim:
        # A claim cancelled in flight may have taken the lock: release it on the way out.
        async with self._releasing(key, token):
            return await self.store.claim(key, token, message_id)

    async def _claim(self, key: str, token: str, message_id: str | None) -> Claim:
        deadline = time.monotonic() + _BUSY_WAIT_S
        pause = 0.005
        while True:
            claim = await self._claim_once(key, token, message_id)
            if claim.status != "busy":
                return claim
            if time.monotonic() > deadline:
                raise ConversationBusy(key)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def _turn(
        self,
        key: str,
        token: str,
        inbound: Inbound,
        text: str,
        stored: str | None,
        create: bool,
        early: Early | None = None,
    ) -> TurnResult:
        if stored is None and not create:
            raise UnknownConversation(inbound.chat)
        state = ConversationState.from_json(stored) if stored else self._new_state(inbound)
        if inbound.phone is not None:
            await self._vouched(key, state, inbound.phone)
        turn = Turn(inbound, text, state, self.services, self.domain, self, early=early)
        await self._route(turn)
        saved = await self._save(key, token, turn, customer=text)
        return TurnResult(inbound.chat, state.mode, state.locale, saved[1:], saved[0])

    async def _vouched(self, key: str, state: ConversationState, phone: str) -> None:
        """The channel vouches for the sender's phone (an SMS sender, a Telegram contact of
        their own): the conversation belongs to that phone's customer, on every channel."""
        customers = self.domain.customers
        try:
            customer_id = customers.id_for(phone)
        except InvalidPhone:
            return  # a sender id or a landline we cannot use: the customer stays unknown
        if state.customer != customer_id:
            await customers.ensure(phone, state.locale)
            await customers.link(customer_id, key)
            state.customer = customer_id

    async def _save(self, key: str, token: str, turn: Turn, customer: str | None) -> list[Entry]:
        """Store the turn (the customer's words, if any, then the replies) and wake readers.
        A customer's message makes this their most recently used conversation (in the same
        pipeline as the save): notices find them where they last spoke."""
        now = self._clock()
        touched = None
        if customer is not None and turn.state.customer is not None:
            touched = self.domain.customers.touch(turn.state.customer, key)
            touched.add_done_callback(_retrieved)  # read even when the save fails first
        entries = [
            NewEntry("bot", reply.text, now, reply.buttons, reply.card) for reply in turn.replies
        ]
        if customer is not None:
            entries.insert(
                0, NewEntry("customer", customer, now, client_id=turn.inbound.message_id)
            )
        saved = await self.store.save(
            key,
            token=token,
            state=turn.state.to_json(),
            message_id=turn.inbound.message_id,
            entries=entries,
        )
        if touched is not None:
            await guarded(touched)
        self._remember(key, turn.state)
        if self.hub is not None and saved:
            self.hub.announce(key, saved[-1].seq)
        return saved

    def _repeat(self, inbound: Inbound, claim: Claim) -> TurnResult:
        state = ConversationState.from_json(claim.state) if claim.state else ConversationState()
        echo = next((e for e in claim.entries if e.role == "customer"), None)
        replies = [e for e in claim.entries if e.role != "customer"]
        return TurnResult(inbound.chat, state.mode, state.locale, replies, echo, duplicate=True)

    def _new_state(self, inbound: Inbound) -> ConversationState:
        default = self.services.settings.default_locale
        return ConversationState(
            locale=negotiate([inbound.locale_hint], default),
            channel=inbound.channel,
            created=round(self._clock(), 3),
        )

    async def _route(self, turn: Turn) -> None:
        state = turn.state
        if turn.text and not state.locale_pinned and turn.inbound.payload is None:
            language = self.services.nlu.detect_language(turn.text)
            if language is not None:
                state.locale = language
        command = self.commands.detect(turn.text, turn.inbound.payload)
        if state.mode != "bot":
            if command is not None and command.name in ("language", "stop"):
                await self._command(turn, command)
                return
            if await self.handoff.relay(turn, command):
                return
            state.mode = "bot"  # the handoff is over (ended elsewhere): the bot answers
        if command is not None:
            await self._command(turn, command)
        elif turn.inbound.payload is not None:
            await self._payload(turn, turn.inbound.payload)
        elif not turn.text:
            turn.say(_("I didn't get any text. What can I do for you?"), buttons=self.menu(turn))
        elif state.flow is not None and state.flow in self._flows:
            await self._step(turn, self._flows[state.flow])
        elif self.services.mood is not None and self.services.mood.angry(turn.text):
            # Angry or abusive words with no task under way: a person answers them best.
            await self.handoff.request(turn, "anger")
        else:
            state.leave_flow()
            await self._by_text(turn)
        await self._take_up(turn)

    async def call(self, turn: Turn, flow: str, resume_at: str) -> None:
        """Set the running flow aside at `resume_at` and start `flow` for it (Router)."""
        turn.state.step = resume_at
        turn.state.set_aside(auto=True)
        await self._flows[flow].start(turn)

    async def _step(self, turn: Turn, flow: Flow) -> None:
        if await flow.step(turn):
            return
        # Not an answer to the step: maybe the customer wants something else now. A message
        # that is mostly digits is a mistyped value (a phone, a code), never such a request.
        if _mostly_digits(turn.text):
            return
        score = turn.parse().intent
        if score.confidence < DIVERT_CONFIDENCE:
            return
        if score.name in _COMMAND_INTENTS:
            turn.replies.clear()
            await self._command(turn, Command(_COMMAND_INTENTS[score.name]))
            return
        other = self._by_intent.get(score.name)
        if (
            other is None
            and score.name in self._fallback.intents - {"out_of_scope"}
            and score.confidence >= DIVERT_TO_FALLBACK_CONFIDENCE
        ):
            other = self._fallback  # a clear question mid-way: answer it, then come back
        if other is not None and other is not flow:
            turn.replies.clear()
            turn.state.set_aside(auto=False)
            await other.start(turn)

    async def _take_up(self, turn: Turn) -> None:
        """No flow runs any more: resume one that was waiting for it, or offer one set aside."""
        state = turn.state
        for _attempt in range(_MAX_TAKE_UPS):
            if state.mode != "bot" or state.flow is not None or not state.suspended:
                return
            frame = state.suspended[-1]
            if not frame.get("a"):
                break
            state.take_up()
            flow = self._flows.get(state.flow or "")
            if flow is None:
                state.leave_flow()
                continue
            await flow.resume(turn)
        else:
            return
        if state.flow is None and state.suspended and not frame.get("o"):
            frame["o"] = 1  # offered once; the customer may ignore it
            turn.say(
                _("Shall we go back to {task}?", task=self._title(frame["f"])),
                buttons=[(_("Yes, continue"), "cmd:resume"), (_("No, thanks"), "cmd:drop")],
            )

    def _title(self, name: str) -> Text | str:
        flow = self._flows.get(name)
        entry = flow.menu_entry() if flow is not None else None
        return entry[0] if entry is not None else _("what we were doing")

    async def _by_text(self, turn: Turn) -> None:
        intent = turn.parse().intent.name
        if intent in _COMMAND_INTENTS:
            # Said in other words than the command's ("我想和真人聊聊"): the same command.
            await self._command(turn, Command(_COMMAND_INTENTS[intent]))
        else:
            await self._by_intent.get(intent, self._fallback).start(turn)

    async def _payload(self, turn: Turn, payload: str) -> None:
        name, _sep, argument = payload.partition(":")
        flow = self._flows.get(name)
        state = turn.state
        # A button of another flow mid-way: that flow goes first, the running one waits.
        aside = flow is not None and state.flow is not None and state.flow != name
        if aside:
            state.set_aside(auto=False)
        if flow is None or not await flow.on_payload(turn, argument):
            if aside:
                state.take_up()
            running = self._flows.get(state.flow or "")
            if running is None:
                turn.say(
                    _("That button is no longer valid. Here is the main menu."),
                    buttons=self.menu(turn),
                )
            else:  # a flow is waiting for an answer: ask it again rather than drop it
                turn.say(_("That button is no longer valid."))
                await running.resume(turn)

    async def _command(self, turn: Turn, command: Command) -> None:
        state = turn.state
        if command.name == "human":
            await self.handoff.request(turn, "asked")
        elif command.name == "menu":
            state.leave_flow()
            state.suspended = []
            state.notify = True
            turn.understood()
            turn.say(_("What can I do for you?"), buttons=self.menu(turn))
        elif command.name == "cancel":
            self._cancel(turn)
        elif command.name == "resume":
            await self._resume(turn)
        elif command.name == "drop":
            if state.suspended:
                state.suspended.pop()
            turn.say(_("All right. What else can I do for you?"), buttons=self.menu(turn))
        elif command.name == "language":
            self._language(turn, command.argument)
        elif command.name == "stop":
            state.notify = False
            turn.say(
                _(
                    "You will no longer receive notifications from us. "
                    "Send “menu” at any time to start again."
                )
            )

    def _cancel(self, turn: Turn) -> None:
        state = turn.state
        if state.flow is None:
            state.suspended = []
            turn.say(
                _("There is nothing to cancel. What can I do for you?"), buttons=self.menu(turn)
            )
            return
        state.leave_flow()
        # Flows waiting for the cancelled one have nothing left to wait for.
        while state.suspended and state.suspended[-1].get("a"):
            state.suspended.pop()
        turn.say(_("Cancelled. What else can I do for you?"), buttons=self.menu(turn))

    async def _resume(self, turn: Turn) -> None:
        state = turn.state
        flow = self._flows.get(state.suspended[-1]["f"]) if state.suspended else None
        if flow is None:
            state.suspended = state.suspended[:-1]
            turn.say(
                _("There is nothing to continue. What can I do for you?"), buttons=self.menu(turn)
            )
            return
        state.take_up()
        await flow.resume(turn)

    def _language(self, turn: Turn, language: str | None) -> None:
        if language not in ("zh", "en"):
            turn.say(
                _("Please choose a language."),
                buttons=[("中文", "cmd:language:zh"), ("English", "cmd:language:en")],
            )
            return
        turn.state.locale = language
        turn.state.locale_pinned = True
        turn.say(_("I will speak English from now on."), buttons=self.menu(turn))

    def menu(self, turn: Turn) -> list[tuple[Text | str, str]]:
        """The main menu: each flow's entry, then a person and the language choice."""
        entries: list[tuple[Text | str, str]] = []
        for flow in self._flows.values():
            entry = flow.menu_entry()
            if entry is not None:
                entries.append(entry)
        entries.append((_("Talk to an agent"), "cmd:human"))
        entries.append((_("中文 / English"), "cmd:language"))
        return entries
