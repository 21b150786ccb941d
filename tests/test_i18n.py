"""Catalogs are complete in both languages; locales are negotiated; values are formatted."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, Catalogs, _, negotiate
from bot.settings import LOCALES_DIR

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalog(language: str):  # type: ignore[no-untyped-def]
    with (LOCALES_DIR / language / "LC_MESSAGES" / "shouwen.po").open("rb") as po:
        return read_po(po, locale=language)


def extracted_ids(tmp_path: Path) -> set[str]:
    pot = tmp_path / "fresh.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_in_the_code_is_translated(language: str, tmp_path: Path) -> None:
    translated = {m.id: m.string for m in catalog(language) if m.id}
    missing = sorted(i for i in extracted_ids(tmp_path) if not translated.get(i))
    assert not missing, f"{language} lacks translations for: {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    for message in catalog(language):
        if message.id and message.string:
            assert set(PLACEHOLDER.findall(message.id)) == set(
                PLACEHOLDER.findall(message.string)
            ), message.id


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh_CN", "zh"),
        ("zh_Hans", "zh"),
        ("zh-Hans-CN", "zh"),
        ("zh-TW", "zh"),
        ("en", "en"),
        ("en-US", "en"),
        ("en_GB.UTF-8", "en"),
        ("EN-us", "en"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,zh;q=0.5", "zh"),
        ("zh;q=0.2,en;q=0.9", "en"),
        ("fr", "zh"),
        ("", "zh"),
        ("*", "zh"),
        ("<script>", "zh"),
        ("x" * 500, "zh"),
        (None, "zh"),
    ],
)
def test_locale_strings_are_understood_in_any_spelling(given: str | None, expected: str) -> None:
    assert negotiate([given], "zh") == expected


def test_unknown_locale_falls_back_to_the_configured_default() -> None:
    assert negotiate(["fr"], "en") == "en"
    assert negotiate([None, "de", "en-AU"], "zh") == "en"


def test_render_translates_and_formats_in_the_operator_zone() -> None:
    catalogs = Catalogs.load(LOCALES_DIR, "Asia/Shanghai")
    moment = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)  # 15:30 in Shanghai
    assert catalogs.render("zh", _("Main menu")) == "主菜单"
    assert catalogs.render("en", _("Main menu")) == "Main menu"
    assert "15:30" in catalogs.format_datetime("zh", moment)
    assert "3:30" in catalogs.format_datetime("en", moment)
    assert "2026" in catalogs.format_datetime("en", moment)
    rendered = catalogs.render("zh", _("Questions about {topic}:", topic=_("Roaming")))
    assert rendered == "关于“国际漫游”的常见问题："
    assert catalogs.render("fr", _("Main menu")) == "主菜单"  # unknown language: the default
