"""The baseline's understanding: the answers Shouwen's flows would give, without its engine.

The aiogram bot's handlers call the same `services.nlu` and `services.faq` and render the
same catalog msgids, so both sides do the same understanding work and send the same words;
what the benchmark compares is the runtime around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.dialog import Services
from bot.i18n import Text, _


@dataclass(frozen=True, slots=True)
class Answer:
    """What the baseline sends: text and (title, callback data) buttons."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()
    language: str = "zh"
    faq_id: str | None = None


# The msgids Shouwen's flows use, so both sides send the same words.
GREETING = _(
    "Hello! I am StarLink Telecom's assistant. Ask me about plans, bills, "
    "broadband, roaming and more. What can I do for you?"
)
THANKS = _("You're welcome! Anything else I can help with?")
NOT_UNDERSTOOD = _(
    "Sorry, I didn't understand that. You can ask me about plans, bills, "
    "broadband, roaming and more, or pick a topic."
)
STALE_BUTTON = _("That button is no longer valid. Here is the main menu.")
COMMON_QUESTIONS = _("Common questions")
AGENT = _("Talk to an agent")
FAQ_PAYLOAD = "consult:faq:"


class Answers:
    """The baseline's understanding: the same NLU and FAQ calls Shouwen's flows make."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def for_text(self, text: str) -> Answer:
        nlu, faq = self._services.nlu, self._services.faq
        language = nlu.detect_language(text) or self._services.settings.default_locale
        intent = nlu.parse(text, language).intent.name
        if intent in ("greet", "thanks"):
            menu = ((COMMON_QUESTIONS, "consult:topics"), (AGENT, "cmd:human"))
            return self._say(language, GREETING if intent == "greet" else THANKS, menu)
        matches = faq.match(text, language, limit=3)
        if matches and matches[0].score >= faq.MATCH_THRESHOLD:
            return self.for_payload(FAQ_PAYLOAD + matches[0].entry.id, language)
        return self._say(language, NOT_UNDERSTOOD, ())

    def for_payload(self, payload: str, language: str) -> Answer:
        faq, settings = self._services.faq, self._services.settings
        entry = faq.get(language, payload.removeprefix(FAQ_PAYLOAD))
        if entry is None:
            return self._say(language, STALE_BUTTON, ())
        related = (faq.get(language, rid) for rid in entry.related)
        buttons = [(r.question, FAQ_PAYLOAD + r.id) for r in related if r is not None]
        buttons.append((self._render(language, AGENT), "cmd:human"))
        text = entry.answer.replace("{hotline}", settings.hotline).strip()
        return Answer(text, tuple(buttons), language, entry.id)

    def _say(self, language: str, text: Text, buttons: Sequence[tuple[Text, str]]) -> Answer:
        rendered = tuple((self._render(language, title), data) for title, data in buttons)
        return Answer(self._render(language, text), rendered, language)

    def _render(self, language: str, text: Text) -> str:
        return self._services.catalogs.render(language, text)
