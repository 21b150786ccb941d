"""One customer across channels: identities the channels vouch for, cases and owners that
follow the customer, notices to the channel last used with SMS as the fallback, and what is
said outside a turn relayed to channels that do not read the transcript.

The Telegram and SMS channels here are recording stand-ins registered on the outbox as the
real connectors register theirs; the engine, outbox, desk and Redis are the real ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.messages import Inbound, Reply, TurnResult
from bot.services.outbox import Unreachable
from bot.state import ConversationState
from tests.desk_world import World, verify
from tests.flow_chat import CASE_NUMBER, OTHER_PHONE, PHONE


class Recording:
    """A push channel that keeps what it was given; `unreachable` makes it refuse, and
    `takes_news=False` declines the queue's running commentary (as SMS does)."""

    pushes = True

    def __init__(self, *, unreachable: bool = False, takes_news: bool = True) -> None:
        self.sent: list[tuple[str, list[Reply]]] = []
        self.unreachable = unreachable
        self.takes_news = takes_news

    async def deliver(self, chat: str, replies: Sequence[Reply], locale: str) -> None:
        if self.unreachable:
            raise Unreachable("blocked by the user")
        self.sent.append((chat, list(replies)))

    def texts(self) -> list[str]:
        return [reply.text for _chat, replies in self.sent for reply in replies]


def channels(world: World, *, telegram_unreachable: bool = False) -> tuple[Recording, Recording]:
    telegram, sms = Recording(unreachable=telegram_unreachable), Recording(takes_news=False)
    world.domain.outbox.add_channel("telegram", telegram)
    world.domain.outbox.add_channel("sms", sms)
    return telegram, sms


async def on_telegram(world: World, text: str = "", **fields: object) -> TurnResult:
    world.clock.advance(1)
    inbound = Inbound(
        "telegram",
        "4242",
        text,
        locale_hint="en",
        shares_contact=True,
        **fields,  # type: ignore[arg-type]
    )
    return await world.runtime.engine.handle(inbound)


async def by_sms(world: World, text: str, phone: str = PHONE) -> TurnResult:
    world.clock.advance(1)
    chat = world.domain.customers.id_for(phone)
    return await world.runtime.engine.handle(Inbound("sms", chat, text, phone=phone))


async def state_of(world: World, conversation: str) -> ConversationState:
    raw, _seq = await world.runtime.store.load(conversation)
    assert raw is not None
    return ConversationState.from_json(raw)


def said(result: TurnResult) -> str:
    return "\n".join(entry.text for entry in result.replies)


async def test_a_phone_the_channel_vouches_for_is_the_customer_everywhere(world: World) -> None:
    customers = world.domain.customers
    await by_sms(world, "你好")
    sms_key = f"sms:{customers.id_for(PHONE)}"
    assert (await state_of(world, sms_key)).customer == customers.id_for(PHONE)
    # The same phone verified in web chat by a code is the same customer.
    chat = world.chat("en")
    await verify(world, chat)
    assert (await world.state(chat)).customer == customers.id_for(PHONE)
    assert await customers.conversations(customers.id_for(PHONE)) == [chat.key, sms_key]
    # A Telegram contact of the sender's own joins them too; the one they used last leads.
    await on_telegram(world, payload="verify:contact", phone=PHONE)
    assert (await state_of(world, "telegram:4242")).customer == customers.id_for(PHONE)
    linked = await customers.conversations(customers.id_for(PHONE))
    assert linked[0] == "telegram:4242" and set(linked) == {chat.key, sms_key, "telegram:4242"}


async def test_a_contact_of_ones_own_verifies_and_another_persons_does_not(
    world: World,
) -> None:
    asked = await on_telegram(world, "my cases")
    # The channel can prove the phone: the verification offers to share it.
    assert "verify:contact" in [b.payload for e in asked.replies for b in e.buttons]
    foreign = await on_telegram(world, payload="verify:contact")  # someone else's contact
    assert "not your own" in said(foreign)
    assert (await state_of(world, "telegram:4242")).customer is None
    own = await on_telegram(world, payload="verify:contact", phone=PHONE)
    assert "138****8000 is verified" in said(own)
    state = await state_of(world, "telegram:4242")
    assert state.customer == world.domain.customers.id_for(PHONE)
    assert state.flow is None  # the verification ended; "my cases" took over and answered


async def test_cases_follow_the_customer_to_another_channel(world: World) -> None:
    chat = world.chat("en")
    await verify(world, chat)
    await chat.say("I want to complain")
    await chat.say("billing dispute")
    answer = await chat.say("I was charged twice for October")
    [number] = CASE_NUMBER.findall(answer) or CASE_NUMBER.findall(await chat.say("yes"))
    # By SMS, the sender's number proves who they are: their web case is theirs there too.
    shown = await by_sms(world, f"CX {number}")
    assert number in said(shown)
    # Someone else's phone does not see it.
    other = await by_sms(world, f"CX {number}", phone=OTHER_PHONE)
    assert all(entry.card is None for entry in other.replies)
    assert "没有找到" in said(other)


async def test_notices_go_where_the_customer_last_spoke(world: World) -> None:
    telegram, sms = channels(world)
    chat = world.chat("en")
    await verify(world, chat)
    number = await world.queue_up(chat, "human")
    await chat.say("cancel")
    # The customer moves to Telegram: the news about the case follows them there.
    await on_telegram(world, "hello", phone=PHONE)
    await world.domain.cases.move(number, "assigned", actor="agent:wang")
    await world.domain.outbox.drain("t")
    assert any(number in text for text in telegram.texts())
    assert sms.sent == []
    web_before = await chat.events()
    # Back on the web chat: the next notice is in its transcript, not on Telegram.
    await chat.say("hello again")
    told = len(telegram.sent)
    await world.domain.cases.move(number, "in_progress", actor="agent:wang")
    await world.domain.outbox.drain("t")
    assert len(telegram.sent) == told
    new = [e for e in await chat.events() if e not in web_before]
    assert any(number in e["text"] and e["role"] == "bot" for e in new)


async def test_sms_is_the_fallback_when_the_last_channel_is_unreachable(world: World) -> None:
    _telegram, sms = channels(world, telegram_unreachable=True)
    chat = world.chat("en")
    await verify(world, chat)
    number = await world.queue_up(chat, "human")
    await chat.say("cancel")
    await on_telegram(world, "hello", phone=PHONE)  # then the customer blocks the bot
    await world.domain.cases.move(number, "assigned", actor="agent:wang")
    await world.domain.outbox.drain("t")
    customer = world.domain.customers.id_for(PHONE)
    assert [chat for chat, _replies in sms.sent] == [customer]
    assert number in sms.texts()[0]
    assert await world.domain.outbox.dead() == []


async def test_stop_on_the_last_channel_is_respected(world: World) -> None:
    _telegram, sms = channels(world)
    chat = world.chat("en")
    await verify(world, chat)
    number = await world.queue_up(chat, "human")
    await chat.say("cancel")
    await by_sms(world, "TD")
    web_before = await chat.events()
    await world.domain.cases.move(number, "assigned", actor="agent:wang")
    await world.domain.outbox.drain("t")
    assert sms.sent == [] and await chat.events() == web_before
    await by_sms(world, "菜单")  # the menu command turns notices on again
    await world.domain.cases.move(number, "in_progress", actor="agent:wang")
    await world.domain.outbox.drain("t")
    assert len(sms.sent) == 1 and number in sms.texts()[0]


async def test_an_agents_words_reach_a_telegram_customer(world: World) -> None:
    telegram, _sms = channels(world)
    wang = await world.add_agent("wang", display="Wang Li")
    queued = await on_telegram(world, "human")
    assert (await state_of(world, "telegram:4242")).mode == "queued", said(queued)
    await wang.accept("telegram:4242")
    await wang.ok("POST", "/desk/api/conversations/telegram:4242/messages", {"text": "Hi, <b>"})
    await world.domain.outbox.drain("t")
    texts = telegram.texts()
    assert "Wang Li: Hi, <b>" in texts
    assert any("Wang Li" in text and text != "Wang Li: Hi, <b>" for text in texts)  # joined
    # The customer's answer reaches the agent, and the bot stays silent.
    answer = await on_telegram(world, "thanks")
    assert answer.replies == []


async def test_the_owner_follows_the_customer_to_sms(world: World) -> None:
    wang = await world.add_agent("wang")
    chat = world.chat("en")
    await verify(world, chat)
    number = await world.queue_up(chat, "human")
    await wang.accept(chat.key)
    await wang.ok("POST", f"/desk/api/conversations/{chat.key}/handback", {"rate": False})
    await by_sms(world, "人工")
    sms_key = f"sms:{world.domain.customers.id_for(PHONE)}"
    record = await world.handoff.handoffs.get(sms_key)
    assert record is not None and record.case == number
    assert record.owner == "wang" and record.reserved_for == "wang"


async def test_the_queues_news_reaches_telegram_but_costs_no_sms(world: World) -> None:
    telegram, sms = channels(world)
    wang = await world.add_agent("wang")
    first = world.chat("en")
    await world.queue_up(first, "human")
    await on_telegram(world, "human")
    await by_sms(world, "人工")
    await world.domain.outbox.drain("t")
    before_telegram, before_sms = len(telegram.sent), len(sms.sent)
    await wang.accept(first.key)  # the queue moves: both are one place nearer
    await world.domain.outbox.drain("t")
    news = telegram.texts()[before_telegram:]
    assert any("now number 1" in text for text in news), news
    assert len(sms.sent) == before_sms
    # Asked by text, the SMS customer hears their place.
    assert "第 2 位" in said(await by_sms(world, "还要等多久"))
