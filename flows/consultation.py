"""Consultation (咨询): answer from the FAQ with related follow-ups; the fallback flow.

Free text that no other flow claims lands here. A confident FAQ match is answered with its
related questions as buttons; a near miss gets "did you mean" suggestions; anything else
counts as misunderstood, and two in a row offer a person (DESIGN.md section 4).
"""

from __future__ import annotations

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.services.faq import FaqEntry

# Below the confident threshold but above this share of it, suggestions are offered.
NEAR_MISS = 0.6
TOPIC_TITLES: dict[str, Text] = {
    "plans": _("Plans and data"),
    "billing": _("Bills and payment"),
    "broadband": _("Broadband"),
    "roaming": _("Roaming"),
    "porting": _("Number porting"),
    "outages": _("Outages"),
    "5g": _("5G"),
    "stores": _("Stores and hours"),
    "sim": _("SIM cards"),
    "privacy": _("Privacy and security"),
    "services": _("Value-added services"),
}


class ConsultationFlow:
    """Questions answered from the FAQ of the customer's language."""

    name = "consult"
    intents = frozenset({"consult", "out_of_scope"})

    def menu_entry(self) -> tuple[Text, str] | None:
        return (_("Common questions"), "consult:topics")

    async def start(self, turn: Turn) -> None:
        faq = turn.services.faq
        matches = faq.match(turn.text, turn.state.locale, limit=3)
        if matches and matches[0].score >= faq.MATCH_THRESHOLD:
            self._answer(turn, matches[0].entry)
            return
        near = [m.entry for m in matches if m.score >= faq.MATCH_THRESHOLD * NEAR_MISS]
        intent = turn.parse().intent.name
        if near and intent != "out_of_scope":
            turn.understood()
            turn.say(
                _("Did you mean one of these?"),
                buttons=[(e.question, f"consult:faq:{e.id}") for e in near]
                + [(_("Talk to an agent"), "cmd:human")],
            )
        elif not turn.misunderstood():
            turn.say(
                _(
                    "Sorry, I didn't understand that. You can ask me about plans, bills, "
                    "broadband, roaming and more, or pick a topic."
                ),
                buttons=self._topic_buttons(turn),
            )

    async def step(self, turn: Turn) -> bool:
        # Consultation keeps no steps: every message is a new question.
        turn.state.leave_flow()
        await self.start(turn)
        return True

    async def resume(self, turn: Turn) -> None:
        turn.state.leave_flow()  # nothing to take up: every message stands alone

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        kind, _sep, value = argument.partition(":")
        faq = turn.services.faq
        language = turn.state.locale
        if kind == "faq" and (entry := faq.get(language, value)) is not None:
            self._answer(turn, entry)
        elif kind == "topic" and value in TOPIC_TITLES:
            turn.understood()
            turn.say(
                _("Questions about {topic}:", topic=TOPIC_TITLES[value]),
                buttons=[
                    (e.question, f"consult:faq:{e.id}") for e in faq.by_topic(language, value)
                ],
            )
        elif kind == "topics":
            turn.understood()
            turn.say(_("Which topic is your question about?"), buttons=self._topic_buttons(turn))
        else:
            return False
        return True

    def _answer(self, turn: Turn, entry: FaqEntry) -> None:
        turn.understood()
        faq = turn.services.faq
        related = [faq.get(turn.state.locale, rid) for rid in entry.related]
        buttons: list[tuple[Text | str, str]] = [
            (r.question, f"consult:faq:{r.id}") for r in related if r is not None
        ]
        buttons.append((_("Talk to an agent"), "cmd:human"))
        answer = entry.answer.replace("{hotline}", turn.services.settings.hotline)
        turn.say(answer.strip(), buttons=buttons)

    @staticmethod
    def _topic_buttons(turn: Turn) -> list[tuple[Text | str, str]]:
        topics = turn.services.faq.topics(turn.state.locale)
        return [(TOPIC_TITLES[t], f"consult:topic:{t}") for t in topics if t in TOPIC_TITLES]
