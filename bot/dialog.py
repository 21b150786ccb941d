"""What a flow sees of a turn, and the seams flows and handoff plug into.

Flows are registered by the composition root; the engine routes to them by intent, by
button payload (`<flow>:<argument>`) or because they are running. A flow never knows the
channel: it reads `turn.text` / `turn.parse()` and answers with `turn.say(...)`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from bot.i18n import Catalogs, Text, _
from bot.messages import Button, Card, Inbound, Reply
from bot.metrics import Metrics
from bot.settings import Settings
from bot.state import ConversationState

if TYPE_CHECKING:
    from bot.commands import Command
    from bot.domain import Domain
    from bot.nlu import Nlu, Parse
    from bot.nlu.mood import Mood
    from bot.services.faq import Faq

# Consecutive misunderstood turns after which a human is offered (DESIGN.md section 4).
MISSES_BEFORE_HUMAN = 2
# What a new conversation and a greeting are answered with.
GREETING = _(
    "Hello! I am StarLink Telecom's assistant. Ask me about plans, bills, "
    "broadband, roaming and more. What can I do for you?"
)


@dataclass(frozen=True, slots=True)
class Services:
    """What flows may use, built once at start."""

    settings: Settings
    catalogs: Catalogs
    nlu: Nlu
    faq: Faq
    metrics: Metrics | None = None
    mood: Mood | None = None  # anger and abuse: a reason to hand over to a person


@dataclass(frozen=True, slots=True)
class Ahead:
    """A message before its turn has claimed the conversation: what a flow may go by to
    start reads early (`Prefetching`)."""

    inbound: Inbound
    text: str  # normalised, as the turn will see it
    # The conversation's state as this process last saved it; None when it has not (another
    # process had the turn) or forgot. Maybe out of date: a guess, never the truth.
    last: ConversationState | None
    services: Services
    domain: Domain

    def now(self) -> datetime:
        """Now in the operator's time zone, as `Turn.parse` reads it."""
        return datetime.fromtimestamp(
            self.domain.clock(), ZoneInfo(self.services.settings.timezone)
        )

    def parse(self) -> Early:
        """The message's NLU reading in the language the turn is likely to speak (the
        engine's rule: the text's language unless the customer chose one), for the turn to
        use if it does speak it."""
        last = self.last
        locale = last.locale if last is not None else self.services.settings.default_locale
        if not (last is not None and last.locale_pinned) and self.inbound.payload is None:
            locale = self.services.nlu.detect_language(self.text) or locale
        started = time.perf_counter()
        parsed = self.services.nlu.parse(self.text, locale, now=self.now())
        return Early(parse=parsed, locale=locale, parse_s=time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class Early:
    """What a flow started before the claim, handed to the turn (`Turn.early`)."""

    read: object = None  # a read already sent, of the flow's own type; the flow takes it up
    parse: Parse | None = None  # the message's reading in `locale`
    locale: str | None = None
    parse_s: float = 0.0  # what making `parse` took, for the metrics

    def with_read(self, read: object) -> Early:
        return Early(read, self.parse, self.locale, self.parse_s)


class Router(Protocol):
    """What a turn asks of the engine: run another flow on behalf of the current one."""

    async def call(self, turn: Turn, flow: str, resume_at: str) -> None: ...

    async def hand_off(self, turn: Turn, reason: str, case: str | None) -> None: ...


@dataclass(slots=True)
class Turn:
    """One customer message being answered."""

    inbound: Inbound
    text: str  # normalised: NFKC, no control characters, capped
    state: ConversationState
    services: Services
    domain: Domain
    router: Router
    replies: list[Reply] = field(default_factory=list)
    early: Early | None = None  # what the flow's `prefetch` started for this message
    _parse: Parse | None = None

    @property
    def conversation(self) -> str:
        """The conversation's key, "<channel>:<chat>": where notices about it are sent."""
        return f"{self.inbound.channel}:{self.inbound.chat}"

    def now(self) -> float:
        return self.domain.clock()

    async def call(self, flow: str, *, resume_at: str) -> None:
        """Set the running flow aside and start `flow`; when that one finishes, the running
        flow is resumed at step `resume_at` with what it had gathered (e.g. verify a phone
        number, then show the customer's cases)."""
        await self.router.call(self, flow, resume_at)

    async def hand_off(self, reason: str, case: str | None = None) -> None:
        """Bring a person in on the flow's own decision (e.g. an urgent complaint, `case`)."""
        await self.router.hand_off(self, reason, case)

    def finish(self) -> None:
        """The running flow is done; a flow set aside for it, if any, takes over again."""
        self.state.leave_flow()

    def parse(self) -> Parse:
        """The NLU's reading of this message, in the conversation's language (computed once,
        or taken from the prefetch when it read it in that language)."""
        if self._parse is None:
            early = self.early
            started = time.perf_counter()
            if early is not None and early.parse is not None and early.locale == self.state.locale:
                self._parse, elapsed = early.parse, early.parse_s
            else:
                now = datetime.fromtimestamp(self.now(), ZoneInfo(self.services.settings.timezone))
                self._parse = self.services.nlu.parse(self.text, self.state.locale, now=now)
                elapsed = time.perf_counter() - started
            metrics = self.services.metrics
            if metrics is not None:
                metrics.parsed(self._parse.intent.name, elapsed)
        return self._parse

    def render(self, text: Text | str) -> str:
        return self.services.catalogs.render(self.state.locale, text)

    def say(
        self,
        text: Text | str,
        *,
        buttons: Sequence[tuple[Text | str, str]] = (),
        card: Card | None = None,
    ) -> None:
        """Answer with text, optional (title, payload) buttons and an optional card."""
        self.replies.append(
            Reply(
                text=self.render(text),
                buttons=tuple(Button(self.render(title), payload) for title, payload in buttons),
                card=card,
            )
        )

    def understood(self) -> None:
        self.state.misses = 0

    def misunderstood(self) -> bool:
        """Count a misunderstood turn; True (and a human offered) when it is one too many."""
        self.state.misses += 1
        if self.state.misses < MISSES_BEFORE_HUMAN:
            return False
        self.say(
            _("Sorry that I keep missing what you need. Would you like to talk to a person?"),
            buttons=[(_("Talk to an agent"), "cmd:human"), (_("Main menu"), "cmd:menu")],
        )
        return True


class Flow(Protocol):
    """A conversational flow: consultation, booking, complaint…"""

    name: str  # also the payload prefix of its buttons
    intents: frozenset[str]  # intents that start it

    def menu_entry(self) -> tuple[Text, str] | None:
        """Its button on the main menu, if it has one."""

    async def start(self, turn: Turn) -> None:
        """Begin: the customer asked for what this flow does."""

    async def step(self, turn: Turn) -> bool:
        """Continue at `turn.state.step` with the customer's free text.

        False when the text is no answer to the step (the flow has asked again): if it asks
        for another flow, the engine sets this one aside and starts that one instead."""

    async def resume(self, turn: Turn) -> None:
        """Take up again at `turn.state.step` after being set aside: ask that step again."""

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        """A button of this flow was pressed; False when the flow does not know it (an old
        button, a forged payload), and the engine answers for it."""


@runtime_checkable
class Prefetching(Protocol):
    """A flow that starts reads before its turn claims the conversation (optional).

    The engine asks the flow a message is for (its button's, or the one running when this
    process last saved the conversation) before the claim; what it sends then leaves in the
    claim's pipeline, and the turn finds it in `turn.early`. A guess may miss: the turn must
    then read for itself and answer the same."""

    def prefetch(self, ahead: Ahead) -> Early | None:
        """Start reads for `ahead` (no awaiting: sent with the claim); None when there are none."""


class Handoff(Protocol):
    """Bringing a person in: what "human" does, and where messages go while one is involved."""

    async def request(self, turn: Turn, reason: str, case_number: str | None = None) -> None:
        """The customer (or a flow, about `case_number`) asked for a person."""

    async def relay(self, turn: Turn, command: Command | None) -> bool:
        """A customer message while the conversation is queued or held by an agent (with the
        global command it is, if any); False when no handoff is under way any more."""
