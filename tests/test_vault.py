"""The vault: sealing round trip, tamper detection, separate keys, blind indexes, masking."""

from __future__ import annotations

import base64

import pytest

from bot.services.vault import Vault, VaultError, mask_id, mask_phone

PHONE = "13800138000"


def test_seal_round_trips_and_hides_the_value() -> None:
    vault = Vault.from_secret("test secret")
    token = vault.seal(PHONE)
    assert token.startswith("v1.")
    assert PHONE not in token
    assert vault.open(token) == PHONE
    assert vault.open(vault.seal("张三 ID 11010519491231002X")) == "张三 ID 11010519491231002X"


def test_seal_uses_a_fresh_nonce_each_time() -> None:
    vault = Vault.from_secret("test secret")
    assert vault.seal(PHONE) != vault.seal(PHONE)


def test_a_changed_byte_is_detected() -> None:
    vault = Vault.from_secret("test secret")
    raw = bytearray(base64.urlsafe_b64decode(vault.seal(PHONE)[3:]))
    raw[-1] ^= 0x01
    tampered = "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(VaultError):
        vault.open(tampered)


@pytest.mark.parametrize("token", ["", "v1.", "v2.AAAA", "v1.!!!", "v1.AAAA", PHONE])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(VaultError):
        Vault.from_secret("test secret").open(token)


def test_another_key_cannot_open() -> None:
    token = Vault.from_secret("one secret").seal(PHONE)
    with pytest.raises(VaultError):
        Vault.from_secret("another secret").open(token)


def test_blind_index_is_stable_keyed_and_per_purpose() -> None:
    vault = Vault.from_secret("test secret")
    index = vault.blind(PHONE)
    assert index == Vault.from_secret("test secret").blind(PHONE)
    assert len(index) == 32 and int(index, 16) >= 0
    assert vault.blind("13800138001") != index
    assert Vault.from_secret("another secret").blind(PHONE) != index
    assert vault.blind(PHONE, "id") != index


def test_the_index_key_is_derived_apart_from_the_encryption_key() -> None:
    master = b"k" * 32
    vault = Vault(master)
    assert len({vault._seal_key, vault._index_key, master}) == 3


def test_without_a_secret_each_start_gets_its_own_key() -> None:
    first, second = Vault.from_settings(None), Vault.from_settings(None)
    assert first.blind(PHONE) != second.blind(PHONE)
    with pytest.raises(VaultError):
        second.open(first.seal(PHONE))
    assert Vault.from_settings("s").blind(PHONE) == Vault.from_secret("s").blind(PHONE)


def test_a_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        Vault(b"short")
    with pytest.raises(ValueError):
        Vault.from_secret("")


def test_masks() -> None:
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("+86 138 0013 8000") == "138****8000"
    assert mask_phone("+442079460000") == "442*****0000"
    assert mask_id("11010519491231002X") == "110105********002X"
