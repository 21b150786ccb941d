"""The booking dialog as an aiogram 3 FSM bot on RedisStorage, doing Shouwen's domain work.

One State per question; what was gathered lives in FSMContext data (phone and ID number
sealed by the vault, as Shouwen's slots keep them). The handlers make the calls Shouwen's
booking flow makes: the same NLU (`detect_language`, `parse` for free-text times), the
same readers of answers (flows/booking_slots.py), the same `Appointments` of a Domain
built on the same Redis as the server builds it (`nearest_free` for the time question,
`availability` for the time asked, `book`), and the same catalog texts. It handles only
the road the benchmark takes, with a re-ask where a value is missing: its author has less
to do than Shouwen's flow, which also takes several answers in one message, lets the
customer change anything and can be left and taken up again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bench.baseline_aiogram import AiogramSide, aiogram_side
from bench.baseline_answers import NOT_UNDERSTOOD
from bot.dialog import Services, Turn
from bot.domain import Domain
from bot.i18n import Text, _
from bot.nlu import Parse
from bot.services.appointments import AppointmentDraft, BookingError
from bot.services.visit_texts import time_reason
from bot.settings import Settings
from bot.store.client import connect
from flows.booking_slots import match_service, read_id, read_phone, read_when
from flows.booking_texts import (
    appointment_card,
    as_lines,
    card_buttons,
    details,
    window_buttons,
)

OFFERED = 4  # windows offered as buttons, as flows/booking_windows.py offers them

# The msgids Shouwen's booking flow uses, so both sides send the same words.
WHICH_AREA = _("Which area should the technician come to?")
WHEN = _(
    "When would you like it? Tell me a day and time, for example "
    "“tomorrow 3pm”, or pick one of the nearest free windows."
)
WHICH_PHONE = _("Which phone number can we reach you on?")
WHICH_ID = _("This service needs your resident ID number (18 characters). Please send it.")
FULL = _("Sorry, that window is full. These are the nearest free windows:")


class Booking(StatesGroup):
    """Where a baseline booking stands: the question it waits an answer to."""

    place = State()
    when = State()
    phone = State()
    id_number = State()
    confirm = State()


@dataclass(slots=True)
class _Locale:
    locale: str


@dataclass(slots=True)
class TurnView:
    """What the flows' text helpers read of a turn (domain, language, `render`, `now`,
    text and its NLU reading), so that the baseline sends the very same words."""

    domain: Domain
    services: Services
    state: _Locale
    text: str = ""
    parsed: Parse | None = None

    def render(self, text: Text | str) -> str:
        return self.services.catalogs.render(self.state.locale, text)

    def now(self) -> float:
        return self.domain.clock()

    def parse(self) -> Parse:
        assert self.parsed is not None, "a view of a turn that was not parsed"
        return self.parsed

    def as_turn(self) -> Turn:
        return cast(Turn, self)


def _button(prefix: str) -> Callable[[CallbackQuery], Awaitable[bool | dict[str, Any]]]:
    """An async filter for callback data starting with `prefix`; hands over the rest."""

    async def matches(callback: CallbackQuery) -> bool | dict[str, Any]:
        data = callback.data or ""
        return {"value": data[len(prefix) :]} if data.startswith(prefix) else False

    return matches


def booking_router(services: Services, domain: Domain) -> Router:
    """The booking dialog as an aiogram FSM: a handler per state."""
    router = Router(name="bench-booking")
    settings, nlu, catalogs = services.settings, services.nlu, services.catalogs
    appointments, vault = domain.appointments, domain.vault
    catalog = appointments.catalog
    zone = ZoneInfo(settings.timezone)

    def understand(text: str, data: dict[str, Any]) -> tuple[str, Parse, datetime]:
        """Language, NLU reading and now, as Shouwen's engine and `Turn.parse` get them."""
        language = nlu.detect_language(text) or data.get("lc") or settings.default_locale
        now = datetime.fromtimestamp(domain.clock(), zone)
        return language, nlu.parse(text, language, now=now), now

    def keyboard(language: str, buttons: list[tuple[Text | str, str]]) -> InlineKeyboardMarkup:
        rows = [
            [InlineKeyboardButton(text=catalogs.render(language, t), callback_data=d)]
            for t, d in buttons
        ]
        return InlineKeyboardMarkup(inline_keyboard=rows)

    async def say(
        message: Message, language: str, text: Text | str, buttons: list[tuple[Text | str, str]]
    ) -> None:
        markup = keyboard(language, buttons) if buttons else None
        await message.answer(catalogs.render(language, text), reply_markup=markup)

    def view(language: str) -> Turn:
        return TurnView(domain, services, _Locale(language)).as_turn()

    @router.message(StateFilter(None))
    async def start(message: Message, state: FSMContext) -> None:
        text = message.text or ""
        language, parse, _now = understand(text, {})
        service = match_service(text, catalog.service_types())
        if parse.intent.name != "book_appointment" or service is None:
            await say(message, language, NOT_UNDERSTOOD, [])
            return
        places = catalog.places(service)
        buttons: list[tuple[Text | str, str]] = [
            (p.name(language), f"book:place:{p.id}") for p in places
        ]
        await say(message, language, WHICH_AREA, buttons)
        await state.update_data(lc=language, svc=service)
        await state.set_state(Booking.place)

    @router.callback_query(StateFilter(Booking.place), _button("book:place:"))
    async def place(callback: CallbackQuery, state: FSMContext, value: str) -> None:
        data = await state.get_data()
        language, service = data["lc"], data["svc"]
        await callback.answer()
        if all(p.id != value for p in catalog.places(service)):
            return
        nearest = await appointments.nearest_free(
            service, value, after=domain.clock(), limit=OFFERED
        )
        if isinstance(callback.message, Message):
            buttons = window_buttons(view(language), nearest)
            await say(callback.message, language, WHEN, buttons)
        await state.set_data({**data, "pl": value})
        await state.set_state(Booking.when)

    @router.message(StateFilter(Booking.when))
    async def when(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        language, parse, now = understand(message.text or "", data)
        asked = read_when(message.text or "", parse.entities, now, None)
        if asked is None:
            await say(message, language, WHEN, [])
            return
        reason = _refusal(domain, asked.day, asked.at, now)
        if reason is not None:
            await say(message, language, time_reason(view(language).domain.policy, reason), [])
            return
        day = await appointments.availability(data["svc"], data["pl"], asked.day)
        free = [slot for slot in day if asked.fits(slot.window) and slot.free > 0]
        if not free:
            offered = [slot for slot in day if slot.free > 0][:OFFERED]
            await say(message, language, FULL, window_buttons(view(language), offered))
            return
        await say(message, language, WHICH_PHONE, [])
        await state.set_data({**data, "lc": language, "w": free[0].window.id})
        await state.set_state(Booking.phone)

    @router.message(StateFilter(Booking.phone))
    async def phone(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        language, parse, _now = understand(message.text or "", data)
        read = read_phone(message.text or "", parse.entities)
        if read.value is None:
            await say(message, language, WHICH_PHONE, [])
            return
        await say(message, language, WHICH_ID, [])
        await state.set_data({**data, "lc": language, "ph": vault.seal(read.value)})
        await state.set_state(Booking.id_number)

    @router.message(StateFilter(Booking.id_number))
    async def id_number(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        language, parse, _now = understand(message.text or "", data)
        read = read_id(message.text or "", parse.entities)
        if read.value is None:
            await say(message, language, WHICH_ID, [])
            return
        fields = details(
            view(language),
            service=data["svc"],
            place=data["pl"],
            window=data["w"],
            phone=vault.open(data["ph"]),
            id_number=read.value,
        )
        summary = _(
            "Please check your appointment:\n{details}\nShall I book it?",
            details=as_lines(fields),
        )
        buttons: list[tuple[Text | str, str]] = [
            (_("Confirm"), "book:ok"),
            (_("Change something"), "book:change"),
        ]
        await say(message, language, summary, buttons)
        await state.set_data({**data, "lc": language, "id": vault.seal(read.value)})
        await state.set_state(Booking.confirm)

    @router.callback_query(StateFilter(Booking.confirm), _button("book:ok"))
    async def confirm(callback: CallbackQuery, state: FSMContext) -> None:
        data = await state.get_data()
        language = data["lc"]
        await callback.answer()
        contact = vault.open(data["ph"])
        draft = AppointmentDraft(
            service=data["svc"],
            window=data["w"],
            customer=domain.customers.id_for(contact),
            conversation=f"telegram:{callback.from_user.id}",
            locale=language,
            contact=contact,
            id_number=vault.open(data["id"]),
        )
        try:
            appointment = await appointments.book(draft)
        except BookingError:
            if isinstance(callback.message, Message):
                await say(callback.message, language, FULL, [])
            await state.set_state(Booking.when)
            return
        card = appointment_card(view(language), appointment)
        booked = catalogs.render(
            language,
            _(
                "Booked! Your appointment number is {number}. We will remind you before the visit.",
                number=appointment.number,
            ),
        )
        # Telegram has no cards: the card's lines follow the text.
        lines = "\n".join(f"{f.label}: {f.value}" for f in card.fields)
        if isinstance(callback.message, Message):
            await say(
                callback.message,
                language,
                f"{booked}\n\n{card.title} {card.number} · {card.status}\n{lines}",
                card_buttons(appointment.number),
            )
        await state.clear()

    return router


def _refusal(domain: Domain, day: Any, at: Any, now: datetime) -> str | None:
    """Why the day and time asked for cannot be booked (flows/booking_windows.py's rules)."""
    policy = domain.policy
    opens, closes = policy.service_hours
    if day < now.date() or (at is not None and datetime.combine(day, at, now.tzinfo) <= now):
        return "past"
    if (day - now.date()).days > policy.booking_horizon_days:
        return "too_far"
    if at is not None and not opens <= at < closes:
        return "outside_hours"
    return None


@contextlib.asynccontextmanager
async def domain_side(
    services: Services, url: str, router: Callable[[Services, Domain], Router]
) -> AsyncIterator[AiogramSide]:
    """An aiogram bot with `router`, and a Domain of its own on the same Redis database,
    wired as the server wires Shouwen's: `build_runtime` also hangs the desk's observers on
    its cases (the SLA clock's timers, the index of open cases), so that a case opened on
    either side does the same work. Only the domain is used; the rest stays idle."""
    from bot.app import build_runtime

    handles = connect(url)
    domain = build_runtime(Settings(), services=services, redis=handles).domain
    try:
        async with aiogram_side(services, url, router(services, domain)) as side:
            yield side
    finally:
        await handles.close()
