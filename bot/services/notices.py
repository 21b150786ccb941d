"""What a notice says: a Notice becomes replies in the customer's language, with a card.

Params a notice may carry (all strings; times as epoch seconds):
  "state"  a case or appointment state (case_state); "note" a note from the agent;
  "due"    the case's next due time; "start" the appointment's start;
  "place"  the appointment's place id, named through the `place_names` lookup given to the
           renderer (an id alone is never shown to a customer);
  "place_name"  a place name already in the notice's language (wins over "place").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.i18n import Catalogs, Text, _
from bot.messages import Button, Card, CardField, Reply
from bot.services.outbox import RELAY, Notice

RATINGS = range(1, 6)

STATES: Mapping[str, Text] = {
    # cases
    "received": _("received"),
    "assigned": _("assigned"),
    "in_progress": _("in progress"),
    "resolved": _("resolved"),
    "closed": _("closed"),
    # appointments
    "booked": _("booked"),
    "cancelled": _("cancelled"),
    "done": _("done"),
    "no_show": _("missed"),
}

# The state a notice implies when it does not name one.
_KIND_STATES = {
    "case_resolved": "resolved",
    "appointment_booked": "booked",
    "appointment_changed": "booked",
    "appointment_reminder": "booked",
    "appointment_cancelled": "cancelled",
    "visit_done": "done",
    "no_show": "no_show",
}

_RATE_QUESTION = _(
    "How satisfied are you? Please rate from 1 (very dissatisfied) to 5 (very satisfied)."
)


class NoticeRenderer:
    """Turns a Notice into replies in its locale: text, a card, and buttons where useful."""

    def __init__(
        self,
        catalogs: Catalogs,
        timezone: str,
        place_names: Callable[[str, str], str | None] | None = None,
    ) -> None:
        """`place_names(place id, language)` names a place (None when unknown)."""
        self._catalogs = catalogs
        self._zone = ZoneInfo(timezone)
        self._place_names = place_names

    def __call__(self, notice: Notice) -> list[Reply]:
        if notice.kind == RELAY:
            return self._relay(notice)
        when = self._when(notice.locale, notice.params.get("start"))
        place = self._place(notice)
        if notice.kind == "outage_over":
            return [self._outage_over(notice, place or notice.subject)]
        if notice.kind.startswith("case"):
            texts, buttons = self._case_body(notice)
        else:
            texts, buttons = self._appointment_body(notice, when, place)
        # Chinese sentences follow each other without a space.
        joiner = "" if notice.locale == "zh" else " "
        text = joiner.join(self._render(notice.locale, t) for t in texts)
        return [Reply(text, buttons, self._card(notice, when, place))]

    def _relay(self, notice: Notice) -> list[Reply]:
        """Lines already said in the conversation; an agent's carry the agent's name."""
        replies = []
        for line in json.loads(notice.params.get("entries", "[]")):
            text = str(line["t"])
            if line.get("r") == "agent" and line.get("a"):
                text = self._render(notice.locale, _("{agent}: {text}", agent=line["a"], text=text))
            buttons = tuple(Button(str(t), str(p)) for t, p in line.get("b", ()))
            card = Card.from_dict(line["c"]) if line.get("c") else None
            replies.append(Reply(text, buttons, card))
        return replies

    def _case_body(self, notice: Notice) -> tuple[list[Text], tuple[Button, ...]]:
        number, params = notice.subject, notice.params
        if notice.kind == "case_resolved":
            resolved = _("Your case {number} has been resolved.", number=number)
            return [resolved, _RATE_QUESTION], self._rating_buttons(number)
        if notice.kind == "case_state":
            state = STATES.get(params.get("state", ""), _("updated"))
            texts = [_("Your case {number} is now {state}.", number=number, state=state)]
            if params.get("note"):
                texts.append(_("Note: {note}", note=params["note"]))
            return texts, ()
        return [_("There is an update on {number}.", number=number)], ()

    def _appointment_body(
        self, notice: Notice, when: str, place: str | None
    ) -> tuple[list[Text], tuple[Button, ...]]:
        number, kind = notice.subject, notice.kind
        if kind == "appointment_booked":
            return [
                _("Your appointment {number} is booked for {start}.", number=number, start=when)
            ], ()
        if kind == "appointment_changed":
            return [
                _("Your appointment {number} has moved to {start}.", number=number, start=when)
            ], ()
        if kind == "appointment_cancelled":
            return [_("Your appointment {number} has been cancelled.", number=number)], ()
        if kind == "appointment_reminder" and place:
            reminder = _(
                "Reminder: your appointment {number} is at {start}, at {place}.",
                number=number,
                start=when,
                place=place,
            )
            return [reminder], ()
        if kind == "appointment_reminder":
            return [
                _("Reminder: your appointment {number} is at {start}.", number=number, start=when)
            ], ()
        if kind == "visit_done":
            done = _("Your appointment {number} is complete.", number=number)
            return [done, _RATE_QUESTION], self._rating_buttons(number)
        if kind == "no_show":
            missed = _(
                "We missed you at appointment {number} ({start}).", number=number, start=when
            )
            book = Button(self._render(notice.locale, _("Book a new time")), "book:start")
            return [missed, _("Would you like to book a new time?")], (book,)
        return [_("There is an update on {number}.", number=number)], ()

    def _card(self, notice: Notice, when: str, place: str | None) -> Card:
        locale = notice.locale
        state = notice.params.get("state") or _KIND_STATES.get(notice.kind, "")
        status = self._render(locale, STATES[state]) if state in STATES else None
        if notice.kind.startswith("case"):
            return Card(
                kind="case",
                title=self._render(locale, _("Case")),
                number=notice.subject,
                status=status,
                due=self._when(locale, notice.params.get("due")) or None,
            )
        fields = (CardField(self._render(locale, _("Place")), place),) if place else ()
        return Card(
            kind="appointment",
            title=self._render(locale, _("Appointment")),
            number=notice.subject,
            status=status,
            due=when or None,
            fields=fields,
        )

    def _outage_over(self, notice: Notice, area: str) -> Reply:
        locale = notice.locale
        text = _(
            "The outage in {area} is over. If your service still does not work, "
            "please report a fault and we will look into it.",
            area=area,
        )
        report = Button(self._render(locale, _("Report a fault")), "fault:start")
        return Reply(self._render(locale, text), (report,))

    def _place(self, notice: Notice) -> str | None:
        if name := notice.params.get("place_name"):
            return name
        place_id = notice.params.get("place")
        if not place_id or self._place_names is None:
            return None
        return self._place_names(place_id, notice.locale)

    def _rating_buttons(self, subject: str) -> tuple[Button, ...]:
        # Stars read the same in every language.
        return tuple(Button("★" * n, f"rate:{subject}:{n}") for n in RATINGS)

    def _when(self, locale: str, epoch: str | None) -> str:
        if not epoch:
            return ""
        try:
            moment = datetime.fromtimestamp(float(epoch), tz=self._zone)
        except (ValueError, OverflowError, OSError):
            return ""
        return self._catalogs.format_datetime(locale, moment)

    def _render(self, locale: str, text: Text) -> str:
        return self._catalogs.render(locale, text)
