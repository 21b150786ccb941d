"""The complaint dialog as an aiogram 3 FSM bot on RedisStorage, doing Shouwen's domain work.

One State per question, what was gathered in FSMContext data. The handlers make the calls
Shouwen's complaint flow makes: the same NLU, the same readers (`category_of`,
`read_mobile`), the same `ComplaintGrader.grade` and `Cases.open` of a Domain built as the
server builds it (`domain_side`) on the same Redis, and the same catalog texts (the case
card's lines follow the text, Telegram having no cards). Only the road the benchmark takes
is handled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bench.baseline_answers import NOT_UNDERSTOOD
from bench.baseline_booking import TurnView, _button, _Locale
from bot.dialog import Services
from bot.domain import Domain
from bot.i18n import Text, _
from bot.services.case_texts import CATEGORY_NAMES
from bot.services.case_texts import complaint_filed as filed
from bot.services.cases import CaseDraft
from bot.services.policy import COMPLAINT_CATEGORIES
from flows.complaint import category_of
from flows.progress import case_card
from flows.verify import read_mobile

ABOUT = _("What is your complaint about?")
DESCRIBE = "{category}: please describe what happened, in your own words (up to 2,000 characters)."
WHICH_PHONE = _("Which mobile number can we reach you on about this complaint?")


class Complaint(StatesGroup):
    """Where a baseline complaint stands: the question it waits an answer to."""

    category = State()
    description = State()
    phone = State()


def complaint_router(services: Services, domain: Domain) -> Router:
    """The complaint dialog as an aiogram FSM: a handler per state."""
    router = Router(name="bench-complaint")
    settings, nlu, catalogs = services.settings, services.nlu, services.catalogs
    zone = ZoneInfo(settings.timezone)

    def view(language: str, text: str = "", parse: bool = False) -> TurnView:
        seen = TurnView(domain, services, _Locale(language), text)
        if parse:
            now = datetime.fromtimestamp(domain.clock(), zone)
            seen.parsed = nlu.parse(text, language, now=now)
        return seen

    def language_of(text: str, data: dict[str, Any]) -> str:
        return nlu.detect_language(text) or data.get("lc") or settings.default_locale

    async def say(
        message: Message, language: str, text: Text | str, buttons: list[tuple[Text, str]]
    ) -> None:
        rows = [
            [InlineKeyboardButton(text=catalogs.render(language, t), callback_data=d)]
            for t, d in buttons
        ]
        markup = InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
        await message.answer(catalogs.render(language, text), reply_markup=markup)

    @router.message(StateFilter(None))
    async def start(message: Message, state: FSMContext) -> None:
        text = message.text or ""
        seen = view(language_of(text, {}), text, parse=True)
        language = seen.state.locale
        if seen.parse().intent.name != "file_complaint":
            await say(message, language, NOT_UNDERSTOOD, [])
            return
        category = category_of(seen.as_turn(), text)
        read_mobile(seen.as_turn())  # Shouwen's flow looks for a phone in the first message
        buttons = [(CATEGORY_NAMES[c], f"complain:cat:{c}") for c in COMPLAINT_CATEGORIES]
        await say(message, language, ABOUT, buttons)
        await state.set_data({"lc": language, **({"cat": category} if category else {})})
        await state.set_state(Complaint.category)

    @router.callback_query(StateFilter(Complaint.category), _button("complain:cat:"))
    async def category(callback: CallbackQuery, state: FSMContext, value: str) -> None:
        data = await state.get_data()
        await callback.answer()
        if value not in COMPLAINT_CATEGORIES:
            return
        if isinstance(callback.message, Message):
            question = _(DESCRIBE, category=CATEGORY_NAMES[value])
            await say(callback.message, data["lc"], question, [])
        await state.set_data({**data, "cat": value})
        await state.set_state(Complaint.description)

    @router.message(StateFilter(Complaint.description))
    async def description(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        text = (message.text or "").strip()
        language = language_of(text, data)
        await say(message, language, WHICH_PHONE, [])
        await state.set_data({**data, "lc": language, "desc": text})
        await state.set_state(Complaint.phone)

    @router.message(StateFilter(Complaint.phone))
    async def phone(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        text = message.text or ""
        seen = view(language_of(text, data), text, parse=True)
        language = seen.state.locale
        contact = read_mobile(seen.as_turn())
        if not isinstance(contact, str):
            await say(message, language, contact, [])
            return
        customer = domain.customers.id_for(contact)
        grade = await domain.grader.grade(data["cat"], data["desc"], customer)
        case = await domain.cases.open(
            CaseDraft(
                kind="complaint",
                conversation=f"telegram:{message.chat.id}",
                customer=customer,
                locale=language,
                description=data["desc"],
                category=data["cat"],
                grade=grade,
                contact=contact,
            )
        )
        registered, *raised = filed(domain.policy, case, grade)
        card = case_card(seen.as_turn(), case)
        lines = "\n".join(f"{f.label}: {f.value}" for f in card.fields)
        parts = [catalogs.render(language, registered), f"{card.title} {card.number}\n{lines}"]
        parts.extend(catalogs.render(language, text) for text in raised)
        buttons = [
            (_("Check progress"), f"progress:show:{case.number}"),
            (_("Main menu"), "cmd:menu"),
        ]
        await say(message, language, "\n\n".join(parts), buttons)
        await state.clear()

    return router
