"""The widget in a real browser (Playwright driving Debian's Chromium) against a real server."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, web

from bot.app import Runtime, build_app, build_runtime
from bot.dialog import Services
from bot.settings import Settings
from bot.store.client import connect
from tests.conftest import free_port, unavailable

CHROMIUM = os.environ.get("SHOUWEN_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
pytestmark = pytest.mark.browser


class Server:
    """The real app on a real port, which a test can stop and start again."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(build_app(self.runtime), handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.shutdown()
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def server(settings: Settings, services: Services, real_redis: str) -> AsyncIterator[Server]:
    handles = connect(real_redis)
    running = Server(build_runtime(settings, services=services, redis=handles))
    await running.start()
    yield running
    await running.stop()
    await handles.close()


@pytest.fixture
async def page(server: Server) -> AsyncIterator[Any]:
    if shutil.which(CHROMIUM) is None:
        unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(locale="zh-CN")
        tab = await context.new_page()
        tab.set_default_timeout(15_000)
        yield tab
        await browser.close()


async def messages(page: Any, role: str) -> list[str]:
    texts: list[str] = await page.locator(f"#sw-messages .sw-msg.sw-{role}").all_inner_texts()
    return texts


async def send(page: Any, text: str) -> None:
    await page.fill("#sw-input", text)
    await page.press("#sw-input", "Enter")


async def test_customer_chats_in_the_widget(server: Server, page: Any) -> None:
    await page.goto(server.url + "/")
    await page.wait_for_selector("#sw-panel")
    bot = page.locator("#sw-messages .sw-msg.sw-bot")
    await bot.first.wait_for()
    assert "星联通信" in (await bot.first.inner_text())
    await send(page, "国际漫游怎么开通")
    await page.locator(".sw-msg.sw-customer[data-state='sent']").first.wait_for()
    await page.wait_for_function(
        "document.querySelectorAll('#sw-messages .sw-msg.sw-bot').length >= 2"
    )
    assert "漫游" in (await bot.nth(1).inner_text())
    quick = page.locator(".sw-quick button").first
    title = (await quick.inner_text()).strip()
    await quick.click()
    await page.wait_for_function(
        "document.querySelectorAll('#sw-messages .sw-msg.sw-bot').length >= 3"
    )
    assert title in (await messages(page, "customer"))[-1]


async def test_hostile_text_is_shown_as_text(server: Server, page: Any) -> None:
    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    await page.goto(server.url + "/")
    await page.locator("#sw-messages .sw-msg.sw-bot").first.wait_for()
    await send(page, hostile)
    await page.locator(".sw-msg.sw-customer[data-state='sent']").first.wait_for()
    await page.wait_for_function(
        "document.querySelectorAll('#sw-messages .sw-msg.sw-bot').length >= 2"
    )
    assert hostile in (await messages(page, "customer"))[0]
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("#sw-messages img").count() == 0


async def test_reload_and_reconnect_lose_and_repeat_nothing(server: Server, page: Any) -> None:
    await page.goto(server.url + "/")
    await page.locator("#sw-messages .sw-msg.sw-bot").first.wait_for()
    await send(page, "宽带太慢了怎么办")
    await page.wait_for_function(
        "document.querySelectorAll('#sw-messages .sw-msg.sw-bot').length >= 2"
    )
    before = await page.locator("#sw-messages .sw-msg").count()
    await page.reload()
    await page.wait_for_function(
        f"document.querySelectorAll('#sw-messages .sw-msg').length >= {before}"
    )
    await page.wait_for_timeout(500)
    assert await page.locator("#sw-messages .sw-msg").count() == before
    conversation = await page.evaluate(
        "JSON.parse(localStorage.getItem('shouwen.chat')).conversation"
    )
    # The server goes away; while it is down nothing can be sent; when it is back, a message
    # arrives from elsewhere (another tab) and the widget resumes and shows it exactly once.
    await server.stop()
    await page.locator("#sw-status").wait_for(state="visible")
    await server.start()
    async with ClientSession() as http:
        response = await http.post(
            server.url + "/api/chat/messages",
            json={"conversation": conversation, "text": "谢谢", "id": "other-tab-1"},
        )
        assert response.status == 200
    await page.wait_for_function(
        f"document.querySelectorAll('#sw-messages .sw-msg').length >= {before + 2}", timeout=30_000
    )
    await page.wait_for_timeout(500)
    seqs = await page.eval_on_selector_all(
        "#sw-messages .sw-msg[data-seq]", "els => els.map(e => Number(e.dataset.seq))"
    )
    assert len(seqs) == len(set(seqs)) == before + 2
    assert seqs == sorted(seqs)


async def test_a_complaint_gets_its_card_and_the_rating_arrives_live(
    server: Server, page: Any
) -> None:
    await page.goto(server.url + "/")
    bot = page.locator("#sw-messages .sw-msg.sw-bot")
    await bot.first.wait_for()
    await send(page, "我要投诉")
    await page.locator(".sw-quick button", has_text="话费争议").click()
    await page.wait_for_function(
        "document.querySelectorAll('#sw-messages .sw-msg.sw-bot').length >= 3"
    )
    await send(page, "上个月话费多扣了50元，<b>请核实</b>")
    await send(page, "13800138000")
    number_box = page.locator(".sw-card .sw-card-number").last
    await number_box.wait_for()
    number = (await number_box.inner_text()).strip()
    assert number.startswith("C") and len(number) <= 14
    # The case is worked on and resolved elsewhere; the notice reaches the open widget.
    cases = server.runtime.domain.cases
    for state in ("assigned", "in_progress", "resolved"):
        await cases.move(number, state, actor="agent:test")
    await page.locator(".sw-quick button", has_text="★★★★★").wait_for(timeout=20_000)
    stars = page.locator(".sw-quick button")
    assert [t.strip() for t in await stars.all_inner_texts()] == ["★" * n for n in range(1, 6)]
    await stars.nth(3).click()
    await page.wait_for_function(
        "[...document.querySelectorAll('#sw-messages .sw-msg.sw-customer')]"
        ".some(m => m.textContent.includes('★★★★'))"
    )
    for _attempt in range(50):
        case = await cases.get(number)
        if case is not None and case.rating is not None:
            break
        await page.wait_for_timeout(100)
    assert case is not None and case.rating == 4 and case.state == "closed"
