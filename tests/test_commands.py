"""Global command words and payloads; settings from the environment; state encoding."""

from __future__ import annotations

import pytest

from bot.commands import Command, Commands
from bot.settings import LOCALES_DIR, Settings, SettingsError
from bot.state import ConversationState

COMMANDS = Commands.load(LOCALES_DIR)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("人工", Command("human")),
        ("转人工！", Command("human")),
        ("我要转人工", Command("human")),
        ("Human", Command("human")),
        ("talk to a person please", Command("human")),
        ("菜单", Command("menu")),
        ("  MENU ", Command("menu")),
        ("/start", Command("menu")),
        ("取消", Command("cancel")),
        ("Cancel.", Command("cancel")),
        ("语言", Command("language")),
        ("English", Command("language", "en")),
        ("中文", Command("language", "zh")),
        ("TD", Command("stop")),
        ("stop", Command("stop")),
        ("ＳＴＯＰ", Command("stop")),
    ],
)
def test_command_words_in_both_languages(text: str, expected: Command) -> None:
    assert COMMANDS.detect(text, None) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "你好",
        "我想问一下人工客服的工作时间是几点到几点，周末有没有人",
        "menu prices for the 5G plans",
        "stopwatch",
        "cancellation fee for my broadband contract",
    ],
)
def test_ordinary_messages_are_not_commands(text: str) -> None:
    assert COMMANDS.detect(text, None) is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("cmd:human", Command("human")),
        ("cmd:language:en", Command("language", "en")),
        ("cmd:menu", Command("menu")),
        ("cmd:launch-missiles", None),
        ("consult:topics", None),
        ("", None),
    ],
)
def test_command_payloads(payload: str, expected: Command | None) -> None:
    assert COMMANDS.detect("whatever", payload) == expected


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SHOUWEN_PORT": "9000",
            "SHOUWEN_REDIS_URL": "redis://r:6379/1",
            "SHOUWEN_SECRET_KEY": "not-a-real-secret-for-tests",
            "SHOUWEN_DEFAULT_LOCALE": "en",
        }
    )
    assert (settings.port, settings.redis_url, settings.default_locale) == (
        9000,
        "redis://r:6379/1",
        "en",
    )
    assert Settings.from_env({}).redis_url is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SHOUWEN_PORT": "eighty"}, "SHOUWEN_PORT"),
        ({"SHOUWEN_PORT": "70000"}, "SHOUWEN_PORT"),
        ({"SHOUWEN_DEFAULT_LOCALE": "fr"}, "SHOUWEN_DEFAULT_LOCALE"),
        ({"SHOUWEN_WORKERS": "0"}, "SHOUWEN_WORKERS"),
        ({"SHOUWEN_LOG_LEVEL": "verbose"}, "SHOUWEN_LOG_LEVEL"),
        # A shared Redis needs one key in every process, or personal data is lost between them.
        ({"SHOUWEN_REDIS_URL": "redis://r:6379/1"}, "SHOUWEN_SECRET_KEY"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_state_round_trips_and_stays_small() -> None:
    assert ConversationState().to_json() == "{}"
    state = ConversationState(locale="en", flow="consult", slots={"a": [1, "二"]}, misses=1)
    assert ConversationState.from_json(state.to_json()) == state
    assert len(state.to_json()) < 60
