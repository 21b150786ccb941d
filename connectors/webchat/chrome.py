"""The web chat widget's own words, from the catalogs, injected into /widget.js when served."""

from __future__ import annotations

import json

from bot.i18n import LANGUAGES, Catalogs, Text, _

PLACEHOLDER = "/*@strings*/{}"

# Keys are what widget.js asks for with t(key).
WIDGET_TEXT: dict[str, Text] = {
    "title": _("StarLink Support"),
    "sub_bot": _("Virtual assistant · 24/7"),
    "sub_queued": _("Connecting you to an agent, please wait…"),
    "sub_agent": _("You are chatting with an agent"),
    "placeholder": _("Type your question…"),
    "send": _("Send"),
    "open": _("Open customer support chat"),
    "close": _("Minimise chat"),
    "connecting": _("Connecting…"),
    "reconnecting": _("Reconnecting…"),
    "offline": _("You are offline. Messages will be sent when the connection is back."),
    "sending": _("Sending…"),
    "sent": _("Delivered"),
    "failed": _("Not sent"),
    "typing": _("Support is typing"),
    "agent": _("Agent"),
    "you": _("You"),
    "due": _("Due"),
    "new_conv": _("A new conversation has started"),
    "error": _("Sorry, something went wrong. Please try again shortly."),
    "hint": _("Enter to send · Shift+Enter for a new line"),
    "messages": _("Chat messages"),
    "unread": _("unread"),
}


def widget_script(source: str, catalogs: Catalogs) -> str:
    """widget.js with its string table filled in for every language."""
    table = {
        language: {key: catalogs.render(language, text) for key, text in WIDGET_TEXT.items()}
        for language in LANGUAGES
    }
    if PLACEHOLDER not in source:
        raise ValueError("widget.js lost its /*@strings*/ placeholder")
    return source.replace(PLACEHOLDER, json.dumps(table, ensure_ascii=False), 1)
