"""Handing a Rasa conversation to Shouwen's agents: paused in Rasa, queued in Shouwen.

The conversation "rasa:<sender_id>" is opened in Shouwen if it is new, given what was said
in Rasa since the last handoff (so the agent reads the story), and queued by the desk's own
handoff inside an engine turn (`Engine.act`), serialised with anything else happening to
it. Agents then see it in the desk like any other; what they write reaches the Rasa user
through the "rasa" outbox channel (connectors/rasa/channel.py), and when they hand back
the channel resumes the Rasa conversation. Without SHOUWEN_RASA_URL nothing could reach the
user or resume Rasa, so the conversation is not paused: a callback case instead, as out of
the agents' hours. One open callback case per conversation: asking again reuses it.
"""

from __future__ import annotations

from rasa_sdk.events import ConversationPaused, SlotSet

from bot.dialog import Turn
from bot.engine import normalise
from bot.i18n import Text, _
from bot.messages import Inbound
from bot.services.case_records import Case, CaseDraft
from bot.services.case_texts import moment
from bot.services.customers import InvalidPhone
from bot.store import keys
from bot.store.conversations import NewEntry
from bot.store.guard import guarded
from connectors.rasa.actions.base import Event, ShouwenAction
from connectors.rasa.answers import number_in, read_phone
from connectors.rasa.call import CASE_NUMBER, CHANNEL, PHONE, VERIFIED_PHONE, Call

HANDOFF_ACTION = "action_shouwen_handoff"
# Lines of the Rasa conversation copied into Shouwen's transcript for the agent, at most.
HISTORY_LINES = 20
# A callback case in these states is done: asking again opens a new one.
_DONE = frozenset({"resolved", "closed"})


async def hand_off(
    call: Call, reason: str, case: str | None, words: str | None = None
) -> list[Event]:
    """Queue the conversation for an agent and pause it in Rasa; out of the agents' hours,
    or when Shouwen cannot reach Rasa (no SHOUWEN_RASA_URL), a callback case instead (the
    conversation stays with the assistant). `words` show in the queue (default: what the
    user just said)."""
    parts = call.parts
    raw, _seq = await parts.store.load(call.conversation)
    if raw is None:
        await parts.engine.open(Inbound(CHANNEL, call.chat, locale_hint=call.language))
    await _copy_history(call)
    if parts.settings.rasa_url is None:  # agents' words could not reach the user, nor resume
        why = _("Our agents cannot take over this chat, but they can call you back.")
        ask = _(
            "Our agents cannot take over this chat. Tell me a mobile number and ask for a "
            "person again: we will call you back. Or call our hotline, {hotline}.",
            hotline=parts.settings.hotline,
        )
        return await _call_back_instead(call, why, ask)
    customer = await _verified_customer(call)
    said: list[str] = []

    async def request(turn: Turn) -> None:
        turn.state.locale = call.language
        if customer is not None:
            turn.state.customer = customer
        turn.text = call.words if words is None else words  # the queue's preview, a case's words
        await parts.handoff.request(turn, reason, case)
        if turn.state.mode == "queued":
            said.extend(reply.text for reply in turn.replies)
        turn.replies.clear()  # answered to Rasa here, not relayed by the outbox as well

    await parts.engine.act(call.conversation, request)
    if not said:
        return await _out_of_hours(call)
    for text in said:
        call.say(text)
    return [ConversationPaused()]


async def _verified_customer(call: Call) -> str | None:
    """The customer of the verified phone slot, linked to this conversation (so the desk
    shows their history and their case goes to its owner), else who it already was."""
    phone = call.slot(VERIFIED_PHONE)
    customers = call.domain.customers
    if phone is not None:
        try:
            customer = await customers.ensure(phone, call.language)
        except InvalidPhone:
            return await call.customer()
        await customers.link(customer.id, call.conversation)
        return customer.id
    return await call.customer()


async def _copy_history(call: Call) -> None:
    """What the user and the assistant said since the last handoff, into the transcript."""
    events = call.tracker.events if isinstance(call.tracker.events, list) else []
    start = 0
    for index, event in enumerate(events):
        if isinstance(event, dict) and event.get("event") == "pause":  # an earlier handoff
            start = index + 1
    limit = call.parts.settings.max_text_chars
    lines = []
    for event in events[start:]:
        kind = event.get("event") if isinstance(event, dict) else None
        text = event.get("text") if kind in ("user", "bot") else None
        if not isinstance(text, str) or not text.strip() or text.startswith("/"):
            continue  # a button's intent payload says nothing to a person
        stamp = event.get("timestamp")
        when = float(stamp) if isinstance(stamp, int | float) else call.now()
        role = "customer" if kind == "user" else "bot"
        lines.append(NewEntry(role, normalise(text, limit), when))
    if lines:
        await call.parts.store.append(call.conversation, lines[-HISTORY_LINES:])


async def _out_of_hours(call: Call) -> list[Event]:
    """Nobody works now: a callback case when a phone is known, else say when to ask."""
    opens, closes = call.domain.policy.service_hours
    hours = {"opens": opens.strftime("%H:%M"), "closes": closes.strftime("%H:%M")}
    why = _("Our agents work from {opens} to {closes}, so nobody can take the chat now.", **hours)
    ask = _(
        "Our agents work from {opens} to {closes}, so nobody can take the chat now. "
        "Tell me a mobile number and ask for a person again: we will call you back.",
        **hours,
    )
    return await _call_back_instead(call, why, ask)


async def _call_back_instead(call: Call, why: Text, ask: Text) -> list[Event]:
    """Nobody can take the chat (`why`): the conversation's open callback case, else a new
    one when a phone is known, else `ask` for a phone."""
    case = await _open_callback(call)
    if case is not None:
        call.say(why)
        call.say(
            _(
                "You have asked already: case {number}. We will call {phone} by {due}.",
                number=case.number,
                phone=case.contact or "",
                due=moment(case.due.get("response", case.created)),
            )
        )
        return [SlotSet(CASE_NUMBER, case.number)]
    phone = call.slot(VERIFIED_PHONE) or call.slot(PHONE)
    contact = read_phone(phone) if phone is not None else None
    if not isinstance(contact, str):
        call.say(ask)
        return []
    case = await call.domain.cases.open(
        CaseDraft(
            kind="callback",
            conversation=call.conversation,
            customer=await call.customer(),  # an unverified phone is not an identity
            locale=call.language,
            description="call back: asked when no agent could take the chat",
            contact=contact,
        )
    )
    await _remember_callback(call, case.number)
    call.say(why)
    due = case.due.get("response", case.created)
    call.say(
        _(
            "Done: case {number}. We will call {phone} by {due}.",
            number=case.number,
            phone=contact,
            due=moment(due),
        )
    )
    return [SlotSet(CASE_NUMBER, case.number)]


def _callback_key(call: Call) -> str:
    """String: the conversation's last callback case number, under its hash tag and with its
    TTL, so that asking again reuses that case whatever the tracker's slots say."""
    return f"{keys.conversation(call.conversation)}:rasa_callback"


async def _remember_callback(call: Call, number: str) -> None:
    ttl = call.parts.settings.conversation_ttl_seconds
    await guarded(call.parts.redis.commands.set(_callback_key(call), number, ex=ttl))


async def _open_callback(call: Call) -> Case | None:
    """An open callback case of this conversation or of its verified customer, if any."""
    cases = call.domain.cases
    remembered = await guarded(call.parts.redis.commands.get(_callback_key(call)))
    numbers = [n for n in (call.slot(CASE_NUMBER), remembered) if isinstance(n, str)]
    found = [case for number in numbers if (case := await cases.get(number)) is not None]
    customer = await call.customer()
    if customer is not None:
        found += await cases.of_customer(customer, limit=10)
    for case in found:
        if (
            case.kind == "callback"
            and case.state not in _DONE
            and await call.owns(case.conversation, case.customer)
        ):
            return case
    return None


class ActionShouwenHandoff(ShouwenAction):
    """The user asked for a person: to Shouwen's queue, about their case if they named one."""

    action_name = HANDOFF_ACTION

    async def act(self, call: Call) -> list[Event]:
        return await hand_off(call, "asked", await _own_case(call))


async def _own_case(call: Call) -> str | None:
    """The case the user named (or the one this conversation last opened), if it is theirs."""
    found = number_in([call.entity(CASE_NUMBER), call.text, call.slot(CASE_NUMBER)], "C")
    if found is None or not found[1]:
        return None
    case = await call.domain.cases.get(found[0])
    return (
        case.number
        if case is not None and await call.owns(case.conversation, case.customer)
        else None
    )
