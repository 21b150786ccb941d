"""Replies as Telegram messages: escaped HTML text and cards, keyboards for buttons.

Each reply is one message, or several when it is longer than Telegram allows; its buttons
ride on the last of them as an inline keyboard. The contact button ("verify:contact")
can only be a reply keyboard (Telegram asks the customer to share their number), and the
reply after a shared contact takes that keyboard away again.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiogram.types import (
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.messages import Button, Card, Entry, Reply
from connectors.telegram.split import Line, Span, split_html

CONTACT = "verify:contact"
# Buttons titled this short ("1"-"5", "是") share a row, this many at most; others get a row each.
SHORT_TITLE = 3
SHORT_PER_ROW = 5

NO_TEXT = "…"

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True, slots=True)
class Said:
    """A reply, and who said it when that was an agent."""

    reply: Reply
    author: str | None = None

    @classmethod
    def of(cls, entry: Entry) -> Said:
        reply = Reply(entry.text, entry.buttons, entry.card)
        return cls(reply, entry.author if entry.role == "agent" else None)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Telegram message: HTML text and what goes under it."""

    text: str
    markup: Markup | None = None


def payloads(said: Sequence[Said]) -> list[str]:
    """Every payload that needs callback data (the contact button does not)."""
    return [b.payload for s in said for b in s.reply.buttons if b.payload != CONTACT]


def messages(
    said: Sequence[Said], callback_data: Mapping[str, str], *, remove_keyboard: bool = False
) -> list[Outgoing]:
    """The messages for the replies, in order. `callback_data` maps each payload to what
    its button carries; `remove_keyboard` takes a reply keyboard away (a contact came)."""
    out: list[Outgoing] = []
    for one in said:
        out.extend(_reply_messages(one, callback_data))
    if remove_keyboard and not any(isinstance(o.markup, ReplyKeyboardMarkup) for o in out):
        # A message carries one markup: the first without a keyboard takes the removal. (If
        # every one has buttons, the one-time keyboard has hidden itself after use anyway.)
        for index, outgoing in enumerate(out):
            if outgoing.markup is None:
                out[index] = Outgoing(outgoing.text, ReplyKeyboardRemove(remove_keyboard=True))
                break
    return out


def _reply_messages(said: Said, callback_data: Mapping[str, str]) -> list[Outgoing]:
    texts = split_html(lines(said))
    buttons = [b for b in said.reply.buttons if b.payload != CONTACT]
    contact = next((b for b in said.reply.buttons if b.payload == CONTACT), None)
    if not texts:
        if not said.reply.buttons:
            return []
        texts = [NO_TEXT]  # Telegram sends no message without text
    out = [Outgoing(text) for text in texts]
    last = out[-1]
    if buttons:
        out[-1] = Outgoing(last.text, _inline(buttons, callback_data))
        if contact is not None:  # a second markup needs a message of its own
            out.append(Outgoing(html.escape(contact.title), _contact(contact)))
    elif contact is not None:
        out[-1] = Outgoing(last.text, _contact(contact))
    return out


def lines(said: Said) -> list[Line]:
    """The reply as lines of formatted spans: the author, the text, then the card."""
    out: list[Line] = []
    if said.author:
        out.append([Span(said.author, "b")])
    out.extend([Span(line)] for line in said.reply.text.split("\n"))
    if said.reply.card is not None:
        out.append([])
        out.extend(_card(said.reply.card))
    return out


def _card(card: Card) -> list[Line]:
    """A case or appointment as text: the title and status, the number (monospace, one tap
    copies it), the due time, then its fields. No label needs a language: the due time has
    a clock in front of it."""
    head: list[Span] = [Span(card.title, "b")]
    if card.status:
        head.append(Span(f" · {card.status}"))
    out: list[Line] = [head]
    if card.number:
        out.append([Span(card.number, "code")])
    if card.due:
        out.append([Span(f"⏰ {card.due}")])
    out.extend([Span(f"{field.label}:", "b"), Span(f" {field.value}")] for field in card.fields)
    return out


def _inline(buttons: Sequence[Button], callback_data: Mapping[str, str]) -> InlineKeyboardMarkup:
    keyboard = InlineKeyboardBuilder()
    for button in buttons:
        keyboard.button(text=button.title, callback_data=callback_data[button.payload])
    short = all(len(b.title) <= SHORT_TITLE for b in buttons)
    keyboard.adjust(SHORT_PER_ROW if short else 1)
    return keyboard.as_markup()


def _contact(button: Button) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=button.title, request_contact=True)]],
        one_time_keyboard=True,
        resize_keyboard=True,
    )
