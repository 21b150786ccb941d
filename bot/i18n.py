"""Languages: gettext catalogs compiled at start, locale negotiation, Babel formatting.

Customer-facing text is written in code as `_("English source", name=value)`, which makes a
lazy `Text`; it is translated when the turn knows the customer's language. Catalogs live in
`locales/<lang>/LC_MESSAGES/shouwen.po` and are compiled in memory at start, so no compiled
files are kept in git.
"""

from __future__ import annotations

import functools
import gettext
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("zh", "en")
DOMAIN = "shouwen"
# Babel locales used for formatting each supported language.
# Formatted date-times remembered (language, epoch) -> text; started afresh when full.
_FORMATTED_KEPT = 4096
_BABEL_LOCALES = {"zh": Locale("zh", territory="CN", script="Hans"), "en": Locale("en", "US")}
_LOCALE_SPLIT = re.compile(r"[-_@.]")


@dataclass(frozen=True, slots=True)
class Text:
    """A message id with its parameters, translated later in the customer's language."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)


def _(msgid: str, /, **params: object) -> Text:
    """Mark customer-facing text for translation (extracted by `pybabel extract`)."""
    return Text(msgid, params)


def negotiate(candidates: Iterable[str | None], default: str = "zh") -> str:
    """The first supported language among BCP 47 or POSIX locale strings; else `default`.

    Understands `zh`, `zh-CN`, `zh_Hans`, `zh-Hans-CN`, `en-US`, `en_GB.UTF-8` and
    Accept-Language headers (`en-US,en;q=0.9`); quality values are honoured in order given.
    """
    for candidate in candidates:
        if not candidate:
            continue
        for tag in _accept_language_tags(candidate):
            language = _language_of(tag)
            if language in LANGUAGES:
                return language
    return default


def _accept_language_tags(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _q, _i, tag in sorted(weighted)]


@functools.lru_cache(maxsize=512)  # Babel's parse is slow; clients repeat a few tags
def _language_of(tag: str) -> str | None:
    tag = tag.strip()
    if not tag or tag == "*" or len(tag) > 64:
        return None
    try:
        return Locale.parse(tag, sep="-" if "-" in tag else "_").language
    except (UnknownLocaleError, ValueError, TypeError):
        first = _LOCALE_SPLIT.split(tag, maxsplit=1)[0].lower()
        return first if first.isalpha() else None


class Catalogs:
    """Translations for every supported language, plus the formatting of values in them."""

    def __init__(self, translations: Mapping[str, gettext.GNUTranslations], timezone: str) -> None:
        self._translations = dict(translations)
        self.zone = ZoneInfo(timezone)
        self._formatted: dict[tuple[str, float], str] = {}

    @classmethod
    def load(cls, locales_dir: Path, timezone: str = "Asia/Shanghai") -> Catalogs:
        """Compile each language's .po file in memory."""
        translations: dict[str, gettext.GNUTranslations] = {}
        for language in LANGUAGES:
            po_path = locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=language)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            translations[language] = gettext.GNUTranslations(buffer)
        return cls(translations, timezone)

    def gettext(self, language: str, msgid: str) -> str:
        translations = self._translations.get(language) or self._translations[LANGUAGES[0]]
        return translations.gettext(msgid)

    def render(self, language: str, text: Text | str) -> str:
        """Translate `text` and fill in its parameters, formatted for `language`."""
        if isinstance(text, str):
            return text
        template = self.gettext(language, text.msgid)
        if not text.params:
            return template
        values = {name: self.format_value(language, value) for name, value in text.params.items()}
        return template.format(**values)

    def format_value(self, language: str, value: object) -> str:
        if isinstance(value, Text):
            return self.render(language, value)
        if isinstance(value, tuple):  # a listing: each item formatted, then joined
            return ", ".join(self.format_value(language, item) for item in value)
        if isinstance(value, datetime):
            return self.format_datetime(language, value)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | float):
            return format_decimal(value, locale=_BABEL_LOCALES.get(language, _BABEL_LOCALES["zh"]))
        return str(value)

    def format_datetime(self, language: str, moment: datetime) -> str:
        """A date and time in the operator's zone and the customer's language (remembered:
        Babel's formatting is the dearest step of a case card, and due times repeat)."""
        key = (language, moment.timestamp())
        text = self._formatted.get(key)
        if text is None:
            locale = _BABEL_LOCALES.get(language, _BABEL_LOCALES["zh"])
            text = format_datetime(moment, "medium", tzinfo=self.zone, locale=locale)
            if len(self._formatted) >= _FORMATTED_KEPT:
                self._formatted.clear()
            self._formatted[key] = text
        return text
