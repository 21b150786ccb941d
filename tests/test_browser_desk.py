"""The agent desk and the widget together in a real browser (Playwright driving Debian's
Chromium) against a real server on a real Redis: a customer asks for a person, an agent
takes the chat in /desk, both see each other live, the case is resolved and rated; a
customer who comes back goes to the owner of their case (首问负责制); hostile text stays
text; the supervisor's view; the desk's labels in both languages."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.app import build_runtime
from bot.dialog import Services
from bot.services.case_records import Case
from bot.settings import Settings
from bot.store.client import connect
from tests.conftest import CLOCK_START, RecordingSms, unavailable
from tests.flow_chat import PHONE
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, Server

pytestmark = pytest.mark.browser
PASSWORD = "correct-horse-battery"
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


class RunningClock:
    """Real time, shifted so that a test starts on Monday 10:00 in Shanghai, inside the
    agents' hours (data/policy.yml), and runs on from there like a wall clock."""

    def __init__(self) -> None:
        self.offset = CLOCK_START - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def running_clock() -> RunningClock:
    return RunningClock()


@pytest.fixture
async def server(
    settings: Settings,
    services: Services,
    real_redis: str,
    running_clock: RunningClock,
    sms: RecordingSms,
) -> AsyncIterator[Server]:
    handles = connect(real_redis)
    runtime = build_runtime(
        settings, services=services, redis=handles, clock=running_clock, sms=sms
    )
    agents = runtime.desk.agents
    await agents.add("alice", PASSWORD, "agent", display="王小丽")
    await agents.add("bob", PASSWORD, "agent", display="Bob Li")
    await agents.add("sue", PASSWORD, "supervisor", display="Sue Zhang")
    running = Server(runtime)
    await running.start()
    yield running
    await running.stop()
    await handles.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if shutil.which(CHROMIUM) is None:
        unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


async def new_page(browser: Any, locale: str = "zh-CN") -> Any:
    """A tab of its own (own cookies and storage): one person at one device."""
    context = await browser.new_context(locale=locale)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return page


async def case_of(server: Server, number: str, until: Callable[[Case], bool] | None = None) -> Case:
    """The case as stored, once `until(case)` holds (a click's effect lands a moment later)."""
    cases = server.runtime.domain.cases
    for _attempt in range(100):
        case = await cases.get(number)
        if case is not None and (until is None or until(case)):
            return case
        await asyncio.sleep(0.1)
    raise AssertionError(f"case {number} never reached the expected state")


# --- The customer's side (the widget) ---------------------------------------------------


async def open_widget(customer: Any, server: Server) -> None:
    await customer.goto(server.url + "/")
    await customer.locator("#sw-messages .sw-msg.sw-bot").first.wait_for()


async def say(customer: Any, text: str) -> None:
    await customer.fill("#sw-input", text)
    await customer.press("#sw-input", "Enter")


async def widget_shows(customer: Any, role: str, text: str) -> None:
    await customer.locator(f"#sw-messages .sw-msg.sw-{role}", has_text=text).first.wait_for()


async def verify(customer: Any, sms: RecordingSms) -> None:
    """The customer proves the phone is theirs (a code by SMS)."""
    await say(customer, "我的工单")
    await widget_shows(customer, "bot", "手机号是多少")
    await say(customer, PHONE)
    await widget_shows(customer, "bot", "6 位数字")
    await say(customer, sms.last_code())
    await widget_shows(customer, "bot", "已验证成功")


async def ask_for_a_person(customer: Any) -> str:
    """The customer asks for a person; the conversation's id as the desk knows it."""
    await say(customer, "转人工")
    await customer.locator("#sw-panel[data-mode='queued']").wait_for()
    chat = await customer.evaluate("JSON.parse(localStorage.getItem('shouwen.chat')).conversation")
    return f"web:{chat}"


# --- The agent's side (the desk) --------------------------------------------------------


async def sign_in(desk: Any, server: Server, name: str) -> None:
    await desk.goto(server.url + "/desk")
    await desk.locator("#login-form").wait_for()
    await desk.fill("#login-name", name)
    await desk.fill("#login-password", PASSWORD)
    await desk.click("#login-submit")
    await desk.locator("#app").wait_for()
    await desk.locator("#link-state[data-state='up']").wait_for()


def queued(desk: Any, conversation: str) -> Any:
    return desk.locator(f"#queue .queue-item[data-conversation='{conversation}']")


async def accept(desk: Any, conversation: str) -> str:
    """Take the conversation from the queue; its case number."""
    await queued(desk, conversation).locator("button.accept").click()
    await desk.locator("#chat-main[data-mode='held']").wait_for()
    await desk.locator("#case-number:not(:empty)").wait_for()
    number: str = await desk.locator("#case-number").inner_text()
    return number.strip()


async def reply(desk: Any, text: str) -> None:
    await desk.fill("#reply", text)
    await desk.press("#reply", "Enter")


async def desk_shows(desk: Any, role: str, text: str) -> None:
    await desk.locator(f"#transcript .entry.role-{role}", has_text=text).first.wait_for()


# --- Tests ------------------------------------------------------------------------------


async def test_customer_and_agent_chat_live_and_the_resolved_case_is_rated(
    server: Server, browser: Any
) -> None:
    customer = await new_page(browser)
    await open_widget(customer, server)
    conversation = await ask_for_a_person(customer)

    desk = await new_page(browser)
    await sign_in(desk, server, "alice")
    assert await desk.locator("#me-name").inner_text() == "王小丽"
    item = queued(desk, conversation)
    await item.wait_for()
    assert "转人工" in await item.locator(".preview").inner_text()
    number = await accept(desk, conversation)
    assert number.startswith("C")
    assert await desk.locator("#case-owner").inner_text() == "王小丽 (alice)"
    assert await item.count() == 0  # taken: gone from the queue

    # The customer is told who joined, and the widget shows it is with an agent now.
    await customer.locator("#sw-panel[data-mode='agent']").wait_for()
    await widget_shows(customer, "bot", "王小丽")

    await reply(desk, "您好，我是王小丽，请问有什么可以帮您？")
    await widget_shows(customer, "agent", "我是王小丽")
    who = customer.locator("#sw-messages .sw-msg.sw-agent .sw-who").last
    assert "王小丽" in await who.inner_text()
    assert "王小丽" in await customer.locator("#sw-sub").inner_text()

    await say(customer, "宽带一直断线，已经两天了")
    await desk_shows(desk, "customer", "已经两天了")

    # A canned reply goes out in the customer's language.
    await desk.select_option("#canned", "checking")
    assert await desk.input_value("#reply") != ""
    await desk.click("#send")
    await widget_shows(customer, "agent", "请稍候")

    # The case panel: a state change and a note, both in the case's archive.
    await desk.locator("#case-moves button[data-to='in_progress']").click()
    await desk.locator("#case-state[data-state='in_progress']").wait_for()
    await desk.fill("#note-text", "已远程检测线路")
    await desk.press("#note-text", "Enter")
    await desk.locator("#case-events .event", has_text="已远程检测线路").wait_for()

    await desk.click("#act-resolve")
    await desk.fill("#resolve-note", "重启光猫后恢复")
    await desk.click("#resolve-do")
    await desk.locator("#case-state[data-state='resolved']").wait_for()
    await desk.locator("#case-events .event", has_text="重启光猫后恢复").wait_for()

    # The resolved notice brings the rating stars to the customer.
    stars = customer.locator(".sw-quick button")
    await customer.locator(".sw-quick button", has_text="★★★★★").wait_for(timeout=20_000)
    assert [s.strip() for s in await stars.all_inner_texts()] == ["★" * n for n in range(1, 6)]
    await stars.nth(4).click()
    case = await case_of(server, number, lambda c: c.rating is not None)
    assert case.rating == 5 and case.state == "closed" and case.owner == "alice"
    await customer.locator("#sw-panel[data-mode='bot']").wait_for()


async def test_a_returning_customer_goes_to_the_owner_of_their_case(
    server: Server, browser: Any, sms: RecordingSms, running_clock: RunningClock
) -> None:
    phone = await new_page(browser)
    await open_widget(phone, server)
    await verify(phone, sms)
    first = await ask_for_a_person(phone)
    alice = await new_page(browser)
    await sign_in(alice, server, "alice")
    await queued(alice, first).wait_for()
    number = await accept(alice, first)

    # The customer panel shows the phone masked; revealing it takes a reason, kept on record.
    assert await alice.locator("#customer-phone").inner_text() == "138****8000"
    await alice.click("#reveal")
    await alice.fill("#reveal-reason", "客户要求回电")
    await alice.locator("#reveal-form button[type='submit']").click()
    await alice.locator("#customer-phone.revealed").wait_for()
    assert await alice.locator("#customer-phone").inner_text() == PHONE
    audit = await server.runtime.desk.handoff.handoffs.audit_log()
    assert audit[0]["agent"] == "alice" and audit[0]["reason"] == "客户要求回电"

    await reply(alice, "我先帮您登记，稍后联系您。")
    await widget_shows(phone, "agent", "稍后联系您")
    await alice.click("#act-handback")
    await phone.locator("#sw-panel[data-mode='bot']").wait_for()
    await alice.locator("#chat-main[data-mode='ended']").wait_for()

    bob = await new_page(browser)
    await sign_in(bob, server, "bob")

    # A minute later the customer writes from another device: a new conversation. Alice
    # has stepped away and is back, so she is online when the customer asks.
    running_clock.advance(61)
    for status in ("away", "online"):
        async with alice.expect_response("**/desk/api/presence"):
            await alice.select_option("#presence", status)
    laptop = await new_page(browser)
    await open_widget(laptop, server)
    await verify(laptop, sms)
    second = await ask_for_a_person(laptop)
    assert second != first

    # The case is still open, so the chat is queued for its owner, reserved for her.
    seen_by_bob = queued(bob, second)
    await seen_by_bob.wait_for()
    assert "王小丽" in await seen_by_bob.locator(".owner-mark").inner_text()
    assert "王小丽" in await seen_by_bob.locator(".reserved-mark").inner_text()
    await seen_by_bob.locator("button.accept").click()
    await bob.locator(".toast.error").first.wait_for()
    assert await bob.locator("#chat-main[data-mode='held']").count() == 0

    # The owner is told, sees the chat marked as hers, and takes it.
    await alice.locator("#alert-list .alert", has_text=number).wait_for()
    await queued(alice, second).and_(alice.locator(".yours")).wait_for()
    assert await accept(alice, second) == number
    await laptop.locator("#sw-panel[data-mode='agent']").wait_for()
    case = await case_of(server, number)
    assert case.owner == "alice" and "bob" not in case.helpers
    assert await alice.locator("#case-owner").inner_text() == "王小丽 (alice)"


async def test_hostile_customer_text_is_text_in_the_desk(server: Server, browser: Any) -> None:
    customer = await new_page(browser)
    await open_widget(customer, server)
    conversation = await ask_for_a_person(customer)
    await say(customer, HOSTILE)
    await customer.locator(".sw-msg.sw-customer[data-state='sent']").nth(1).wait_for()

    desk = await new_page(browser)
    await sign_in(desk, server, "alice")
    await queued(desk, conversation).locator("button", has_text="查看").click()
    await desk_shows(desk, "customer", "onerror")
    texts = await desk.locator("#transcript .entry.role-customer .entry-text").all_inner_texts()
    assert HOSTILE in texts
    number = await accept(desk, conversation)
    await say(customer, HOSTILE + " again")
    await desk_shows(desk, "customer", "again")
    await desk.locator("#mine .mine-item .preview", has_text="onerror").wait_for()
    assert await desk.locator("#app img, #app script:not([src])").count() == 0
    assert await desk.evaluate("window.__pwned") is None

    # Passed on to a colleague, whose desk shows the same text as text.
    bob = await new_page(browser)
    await sign_in(bob, server, "bob")
    await desk.click("#act-transfer")
    await desk.select_option("#transfer-agent", "bob")
    await desk.fill("#transfer-note", HOSTILE)
    await desk.locator("#transfer-form button[type='submit']").click()
    await desk.locator("#chat-sub", has_text="Bob Li").wait_for()  # hers no more
    assert await desk.locator("#reply").is_disabled()
    await bob.locator("#alert-list .alert", has_text=number).wait_for()
    await bob.locator(f"#mine .mine-item[data-conversation='{conversation}']").click()
    await bob.locator("#chat-main[data-mode='held']").wait_for()
    await desk_shows(bob, "customer", "again")
    await bob.locator("#case-events .event", has_text="onerror").wait_for()
    await widget_shows(customer, "bot", "Bob Li")
    case = await case_of(server, number)
    assert case.owner == "alice" and "bob" in case.helpers
    assert await bob.locator("#app img").count() == 0
    assert await bob.evaluate("window.__pwned") is None


async def test_the_supervisor_sees_the_floor_and_changes_an_owner(
    server: Server, browser: Any
) -> None:
    customer = await new_page(browser)
    await open_widget(customer, server)
    conversation = await ask_for_a_person(customer)
    alice = await new_page(browser)
    await sign_in(alice, server, "alice")
    await queued(alice, conversation).wait_for()
    number = await accept(alice, conversation)

    sue = await new_page(browser)
    await sign_in(sue, server, "sue")
    await sue.click("#tab-supervisor")
    alice_row = sue.locator("#sv-agents tr[data-agent='alice']")
    await alice_row.locator(".status[data-status='online']").wait_for()
    assert await alice_row.locator(".num").inner_text() == "1"
    assert await sue.locator("#fig-handoffs").inner_text() == "1"
    case = sue.locator(f"#sv-on_time .sv-case[data-case='{number}']")
    await case.wait_for()
    for name in ("handoffs", "waits", "sla", "csat"):
        chart = sue.locator(f"#charts img[src*='/{name}.svg']")
        await chart.wait_for()
        loaded = "img => img.complete && img.naturalWidth > 0"
        await sue.wait_for_function(loaded, arg=await chart.element_handle())

    await case.locator("button", has_text="更换负责人").click()
    await case.locator(".owner-select").select_option("bob")
    await case.locator(".owner-reason").fill("王小丽请假")
    await case.locator("button[type='submit']").click()
    await sue.locator(".toast.ok").first.wait_for()
    changed = await case_of(server, number, lambda c: c.owner == "bob")
    assert changed.owner == "bob"
    await sue.locator(f".sv-case[data-case='{number}'] .owner-line", has_text="bob").wait_for()
    # The former owner hears of it.
    await alice.locator("#alert-list .alert", has_text=number).wait_for()


async def test_the_desk_speaks_chinese_and_english(server: Server, browser: Any) -> None:
    desk = await new_page(browser, locale="en-US")
    page = await desk.goto(server.url + "/desk")
    policy = (await page.all_headers())["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    await desk.locator("#login-form").wait_for()
    assert await desk.locator("#login-submit").inner_text() == "Sign in"
    await desk.locator("#login-form .lang-toggle").click()
    assert await desk.locator("#login-submit").inner_text() == "登录"
    await desk.reload()
    assert await desk.locator("#login-submit").inner_text() == "登录"  # the choice is kept
    await desk.locator("#login-form .lang-toggle").click()
    await sign_in(desk, server, "alice")
    assert await desk.locator("#me-role").inner_text() == "Agent"
    assert await desk.locator("#logout").inner_text() == "Sign out"
    await desk.locator(".topbar .lang-toggle").click()
    assert await desk.locator("#me-role").inner_text() == "坐席"
    assert await desk.locator("#queue-empty").inner_text() == "没有排队的客户"
