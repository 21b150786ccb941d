"""What customers are told about their cases and ratings, on every channel.

The flows and the Rasa actions say these with the very same msgids, so the names of kinds,
categories and grades, the filed complaint and the answers to a rating live here once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.i18n import Text, _
from bot.services.case_records import Case
from bot.services.complaints import Grade
from bot.services.policy import Policy

KIND_NAMES: dict[str, Text] = {
    "fault": _("Fault repair"),
    "complaint": _("Complaint"),
    "callback": _("Supervisor callback"),
    "feedback": _("Feedback"),
    "inquiry": _("Enquiry"),
}
CATEGORY_NAMES: dict[str, Text] = {
    "network": _("Network quality"),
    "billing": _("Billing dispute"),
    "attitude": _("Service attitude"),
    "unfixed": _("Fault not fixed"),
    "marketing": _("Unwanted marketing"),
    "privacy": _("Personal information"),
}
GRADE_NAMES: dict[str, Text] = {
    "urgent": _("urgent"),
    "ordinary": _("ordinary"),
    "complex": _("complex"),
}
DUE_NAMES: dict[str, Text] = {"response": _("Response due"), "repair": _("Repair due")}
# States in which nothing more is promised.
DONE_STATES = frozenset({"resolved", "closed"})
ASK_RATING_SUBJECT = _(
    "Ratings are asked for once a case is resolved or a visit is done: press the "
    "stars in that message. Or tell me the case or appointment number to rate."
)


def moment(epoch: float) -> datetime:
    """An epoch time as an aware datetime, for `_()` params and card formatting (the
    catalogs show it in the operator's zone)."""
    return datetime.fromtimestamp(epoch, UTC)


def next_due(case: Case, now: float) -> float | None:
    """The promise the customer waits for: the first still ahead, else the last one missed."""
    if case.state in DONE_STATES or not case.due:
        return None
    times = sorted(case.due.values())
    return next((t for t in times if t >= now), times[-1])


def promised_hours(span: timedelta) -> float:
    """Hours as promised: 24, or 1.5 when the policy says 90 minutes (never rounded up)."""
    hours = span.total_seconds() / 3600
    return int(hours) if hours.is_integer() else round(hours, 2)


def complaint_filed(policy: Policy, case: Case, grade: Grade) -> list[Text]:
    """What a customer is told once the complaint is filed: its number, grade and promised
    response time, then why the grade went up, if it did."""
    texts = [
        _(
            "Your complaint is registered as case {number}, graded {grade}. "
            "We will respond within {hours} hours, by {due}.",
            number=case.number,
            grade=GRADE_NAMES[grade.grade],
            hours=promised_hours(policy.complaint_response[grade.grade]),
            due=moment(case.due["response"]),
        )
    ]
    why = {
        "terms": _("what you describe"),
        "repeat": _("a repeat complaint within {days} days", days=policy.repeat_window.days),
        "regulator": _("the regulator is named"),
    }
    raised = [why[reason] for reason in grade.reason.split(",") if reason in why]
    if raised:
        texts.append(_("Graded higher because of: {reasons}.", reasons=tuple(raised)))
    return texts


def rating_question(subject: str) -> Text:
    """The question a rating's star buttons go with."""
    return _(
        "How satisfied are you with {subject}? Please rate from 1 (very "
        "dissatisfied) to 5 (very satisfied).",
        subject=subject,
    )


def rating_thanks(score: int, callback: Case | None) -> Text:
    """Thanks for a rating; for a low one, the supervisor callback case and its due time."""
    if callback is None:
        return _("Thank you for rating us {score} out of 5!", score=score)
    return _(
        "We are sorry we did not do better. A supervisor will call you back: "
        "case {number}, by {due}.",
        number=callback.number,
        due=moment(callback.due["response"]),
    )


def rating_refusal(subject: str, reason: str) -> Text:
    """Why `subject` cannot be rated (a `NotRateable` reason)."""
    if reason == "not_finished":
        return _(
            "{subject} cannot be rated yet: ratings open once a case is resolved or a "
            "visit is done.",
            subject=subject,
        )
    if reason == "range":
        return _("Please rate from 1 to 5.")
    # Unknown and someone else's read the same: a guessed number reveals nothing.
    return _("I cannot find {subject} among your cases and visits.", subject=subject)
