"""Complaint (投诉): category, description and contact, then a graded case at once.

The grade comes from the policy (category, words in the description, a repeat within the
window, the regulator named); the customer is told the case number, the grade and the
promised response time in the same turn (DESIGN.md section 4). The customer id is the
blind index of the contact phone, so the repeat rule holds across conversations.
"""

from __future__ import annotations

from bot.dialog import Turn
from bot.i18n import Text, _
from bot.services.case_texts import CATEGORY_NAMES, complaint_filed
from bot.services.cases import CaseDraft
from bot.services.complaints import mentions
from bot.services.policy import COMPLAINT_CATEGORIES
from flows.contact import verified_phone
from flows.progress import case_card
from flows.verify import read_mobile

# Words that point to a category, tried in this order (the more specific first: "宽带修了
# 三次没修好" is a fault not fixed before it is about the network).
# fmt: off
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "privacy": (
        "个人信息", "信息泄露", "信息被泄露", "泄露", "泄漏", "隐私", "privacy",
        "personal information", "personal data", "leak", "leaked", "data breach",
    ),
    "unfixed": (
        "没修好", "没有修好", "修不好", "还没修", "没解决", "没有解决", "还是坏", "又坏了",
        "not fixed", "never fixed", "still broken", "not repaired", "not resolved", "unresolved",
        "broke again",
    ),
    "marketing": (
        "营销", "推销", "骚扰", "广告", "私自开通", "私自给我", "未经同意", "未经我同意", "捆绑",
        "强制消费", "marketing", "spam", "sales call", "telemarketing", "unsolicited",
        "without my consent", "without asking",
    ),
    "billing": (
        "扣费", "收费", "话费", "账单", "费用", "扣钱", "扣了我", "退钱", "退费", "计费", "bill",
        "bills", "billing", "charge", "charges", "charged", "fee", "refund", "overcharged",
        "invoice",
    ),
    "attitude": (
        "态度", "客服", "营业员", "师傅", "工作人员", "服务人员", "不专业", "挂我电话", "辱骂",
        "attitude", "rude", "impolite", "unprofessional", "staff", "agent", "engineer",
    ),
    "network": (
        "信号", "网络", "网速", "断网", "上不了网", "宽带", "掉线", "通话", "4g", "5g", "signal",
        "network", "internet", "coverage", "broadband", "slow", "dropped calls", "no service",
    ),
}
# fmt: on
# A first message this long that already names a category is taken as the description too.
DESCRIPTION_IN_FIRST_MESSAGE = 30
# Shorter than this is no description ("投诉", "ok").
MIN_DESCRIPTION = 4
# Intents that, said briefly and surely, mean the customer moved on rather than answered.
_OTHER_REQUESTS = frozenset(
    {
        "query_progress",
        "book_appointment",
        "change_appointment",
        "report_fault",
        "file_complaint",
        "rate_service",
    }
)
MOVE_ON_MAX_CHARS = 16
MOVE_ON_CONFIDENCE = 0.8


def moves_on(turn: Turn, own: frozenset[str]) -> bool:
    """Whether a short message surely asks for something else (not one of `own` intents)."""
    if len(turn.text) > MOVE_ON_MAX_CHARS:
        return False
    intent = turn.parse().intent
    return intent.confidence >= MOVE_ON_CONFIDENCE and intent.name in _OTHER_REQUESTS - own


def category_of(turn: Turn, text: str) -> str | None:
    """The complaint category `text` names, by a category's title or its words."""
    folded = text.strip().casefold()
    for category in COMPLAINT_CATEGORIES:
        if folded == turn.render(CATEGORY_NAMES[category]).casefold():
            return category
    for category, words in CATEGORY_WORDS.items():
        if mentions(text, words):
            return category
    return None


class ComplaintFlow:
    """Takes a complaint and answers with its case number, grade and promised time."""

    name = "complain"
    intents = frozenset({"file_complaint"})

    def menu_entry(self) -> tuple[Text, str] | None:
        return (_("File a complaint"), "complain:start")

    async def start(self, turn: Turn) -> None:
        turn.understood()
        turn.state.flow, turn.state.step, turn.state.slots = self.name, None, {}
        slots = turn.state.slots
        category = category_of(turn, turn.text)
        if category is not None:
            slots["category"] = category
            if len(turn.text.strip()) >= DESCRIPTION_IN_FIRST_MESSAGE:
                slots["description"] = turn.text
        phone = read_mobile(turn)
        if isinstance(phone, str) and turn.state.customer is None:
            slots["phone"] = turn.domain.vault.seal(phone)
        await self._advance(turn)

    async def step(self, turn: Turn) -> bool:
        step = turn.state.step
        if step == "category":
            return await self._take_category(turn)
        if step == "description":
            return await self._take_description(turn)
        if step == "phone":
            return await self._take_phone(turn)
        await self._advance(turn)
        return False

    async def resume(self, turn: Turn) -> None:
        await self._advance(turn)

    async def on_payload(self, turn: Turn, argument: str) -> bool:
        kind, _sep, value = argument.partition(":")
        if kind == "start":
            turn.understood()
            turn.state.flow, turn.state.step, turn.state.slots = self.name, None, {}
            await self._advance(turn)
        elif kind == "cat" and value in COMPLAINT_CATEGORIES:
            turn.understood()
            if turn.state.flow != self.name:
                turn.state.flow, turn.state.step, turn.state.slots = self.name, None, {}
            turn.state.slots["category"] = value
            await self._advance(turn)
        else:
            return False
        return True

    async def _take_category(self, turn: Turn) -> bool:
        category = category_of(turn, turn.text)
        if category is None:
            self._ask_category(
                turn,
                _("Sorry, I could not tell what the complaint is about. Please pick one:"),
            )
            return False
        turn.understood()
        turn.state.slots["category"] = category
        await self._advance(turn)
        return True

    async def _take_description(self, turn: Turn) -> bool:
        text = turn.text.strip()
        if len(text) < MIN_DESCRIPTION or moves_on(
            turn, frozenset({"report_fault", "file_complaint"})
        ):
            turn.say(_("Please tell me in a few sentences what happened."))
            return False
        turn.understood()
        turn.state.slots["description"] = text
        await self._advance(turn)
        return True

    async def _take_phone(self, turn: Turn) -> bool:
        phone = read_mobile(turn)
        if not isinstance(phone, str):
            turn.say(phone)
            return False  # asked again; the engine decides if it asked for something else
        turn.understood()
        turn.state.slots["phone"] = turn.domain.vault.seal(phone)
        await self._advance(turn)
        return True

    async def _advance(self, turn: Turn) -> None:
        """Ask for what is still missing, or open the case when nothing is."""
        slots, state = turn.state.slots, turn.state
        if "category" not in slots:
            self._ask_category(turn, _("What is your complaint about?"))
        elif "description" not in slots:
            state.step = "description"
            turn.say(
                _(
                    "{category}: please describe what happened, in your own words "
                    "(up to 2,000 characters).",
                    category=CATEGORY_NAMES[slots["category"]],
                )
            )
        elif state.customer is None and "phone" not in slots:
            state.step = "phone"
            turn.say(_("Which mobile number can we reach you on about this complaint?"))
        else:
            await self._open(turn)

    def _ask_category(self, turn: Turn, question: Text) -> None:
        turn.state.step = "category"
        turn.say(
            question,
            buttons=[(CATEGORY_NAMES[c], f"complain:cat:{c}") for c in COMPLAINT_CATEGORIES],
        )

    async def _open(self, turn: Turn) -> None:
        domain, slots = turn.domain, turn.state.slots
        category, description = str(slots["category"]), str(slots["description"])
        customer, phone = await self._contact(turn)
        grade = await domain.grader.grade(category, description, customer)
        case = await domain.cases.open(
            CaseDraft(
                kind="complaint",
                conversation=turn.conversation,
                customer=customer,
                locale=turn.state.locale,
                description=description,
                category=category,
                grade=grade,
                contact=phone,
            )
        )
        turn.finish()
        registered, *raised = complaint_filed(domain.policy, case, grade)
        turn.say(
            registered,
            buttons=[
                (_("Check progress"), f"progress:show:{case.number}"),
                (_("Main menu"), "cmd:menu"),
            ],
            card=case_card(turn, case),
        )
        for text in raised:
            turn.say(text)
        if grade.grade == "urgent":  # urgent complaints go to a person at once
            await turn.hand_off("urgent_complaint", case.number)

    async def _contact(self, turn: Turn) -> tuple[str, str | None]:
        """The customer id and contact phone: the verified customer's, or the one given."""
        if turn.state.customer is not None and "phone" not in turn.state.slots:
            return turn.state.customer, await verified_phone(turn)
        phone = turn.domain.vault.open(str(turn.state.slots["phone"]))
        return turn.domain.customers.id_for(phone), phone
