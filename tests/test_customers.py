"""Customers: keyed by the verified phone's blind index, phone sealed, conversations linked."""

from __future__ import annotations

import pytest

from bot.services.customers import Customers, InvalidPhone, normalise_phone
from bot.services.vault import Vault
from bot.store import keys
from bot.store.client import RedisHandles
from tests.conftest import MovableClock as Clock

PHONE = "13800138000"


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0086-138-0013-8000", "13800138000"),
        ("+44 20 7946 0000", "+442079460000"),
        ("010 6552 9988", "+861065529988"),
    ],
)
def test_phones_are_normalised(typed: str, normal: str) -> None:
    assert normalise_phone(typed) == normal


@pytest.mark.parametrize("typed", ["12345", "hello", "", "1380013800"])
def test_not_a_phone(typed: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone(typed)


def test_the_id_is_the_blind_index_of_the_normalised_phone(handles: RedisHandles) -> None:
    vault = Vault.from_secret("test secret")
    customers = Customers(handles.commands, vault)
    assert customers.id_for("+86 138-0013-8000") == vault.blind("13800138000", "phone")
    other = Customers(handles.commands, Vault.from_secret("another secret"))
    assert customers.id_for(PHONE) != other.id_for(PHONE)


async def test_ensure_creates_once_and_seals_the_phone(handles: RedisHandles) -> None:
    clock = Clock()
    customers = Customers(handles.commands, Vault.from_secret("test secret"), clock)
    first = await customers.ensure("+86 138 0013 8000", "zh")
    assert first.phone == PHONE and first.created == clock.now and first.locale == "zh"
    clock.now += 100
    again = await customers.ensure(PHONE, "en")
    assert again.id == first.id and again.created == first.created and again.locale == "en"
    stored = await handles.commands.hgetall(keys.customer(first.id))  # type: ignore[misc]
    assert PHONE not in "".join(stored.values()) and PHONE not in keys.customer(first.id)
    assert await customers.get(first.id) == again
    assert 0 < await handles.commands.ttl(keys.customer(first.id)) <= keys.CUSTOMER_TTL_S


async def test_unknown_customer(handles: RedisHandles) -> None:
    customers = Customers(handles.commands, Vault.from_secret("test secret"))
    assert await customers.get("0" * 32) is None
    assert await customers.conversations("0" * 32) == []


async def test_conversations_most_recent_first(handles: RedisHandles) -> None:
    clock = Clock()
    customers = Customers(handles.commands, Vault.from_secret("test secret"), clock)
    customer = await customers.ensure(PHONE, "zh")
    for conversation in ("web:a", "telegram:42", "web:b"):
        clock.now += 10
        await customers.link(customer.id, conversation)
    assert await customers.conversations(customer.id) == ["web:b", "telegram:42", "web:a"]
    clock.now += 10
    await customers.link(customer.id, "web:a")  # used again: most recent now
    assert await customers.conversations(customer.id) == ["web:a", "web:b", "telegram:42"]
