"""Personal data at rest: AES-GCM sealing, keyed blind indexes, and masking for display.

One secret (settings.secret_key) yields, through HKDF, two independent keys: one encrypts,
the other keys the blind index (HMAC-SHA256), so knowing an index reveals nothing usable
for decryption and the same phone always finds the same customer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
_NONCE_BYTES = 12  # the size AES-GCM is designed for
KEY_BYTES = 32


class VaultError(ValueError):
    """A sealed value cannot be opened: tampered with, truncated, or sealed with another key."""


def _derive(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(material)


class Vault:
    """Encrypts personal data and computes blind indexes to look it up without decrypting."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a vault key is {KEY_BYTES} bytes, got {len(key)}")
        self._seal_key = _derive(key, b"shouwen/vault/aes-gcm/v1")
        self._index_key = _derive(key, b"shouwen/vault/blind-index/v1")
        self._aead = AESGCM(self._seal_key)

    @classmethod
    def from_secret(cls, secret: str) -> Vault:
        """The vault for a configured secret (any length; HKDF stretches it to a key)."""
        if not secret:
            raise ValueError("the vault secret is empty")
        return cls(_derive(secret.encode(), b"shouwen/vault/master/v1"))

    @classmethod
    def ephemeral(cls) -> Vault:
        """A random key for this process only: what was sealed is unreadable after a restart."""
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_settings(cls, secret: str | None) -> Vault:
        """`from_secret` when a secret is configured, else `ephemeral` (development)."""
        return cls.from_secret(secret) if secret else cls.ephemeral()

    def seal(self, value: str) -> str:
        """`value` encrypted and authenticated: "v1." + urlsafe base64 of nonce + ciphertext."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), VERSION.encode())
        return f"{VERSION}." + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str) -> str:
        """The value `seal` sealed; VaultError if the token was altered or is not ours."""
        version, _dot, body = token.partition(".")
        if version != VERSION or not body:
            raise VaultError("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError) as error:
            raise VaultError("a sealed value is not valid base64") from error
        if len(raw) <= _NONCE_BYTES:
            raise VaultError("a sealed value is truncated")
        try:
            clear = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], VERSION.encode())
        except InvalidTag as error:
            raise VaultError("a sealed value failed authentication") from error
        return clear.decode()

    def blind(self, value: str, purpose: str = "phone") -> str:
        """A keyed hash of `value` (32 hex chars); `purpose` keeps indexes of kinds apart."""
        message = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()[:32]


def mask_phone(phone: str) -> str:
    """A phone for logs and screens: "13800138000" -> "138****8000"."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) > 11 and digits.startswith("86"):
        digits = digits[2:]  # show a CN mobile the way customers write it
    if len(digits) < 8:
        return "*" * max(len(digits) - 2, 0) + digits[-2:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id(number: str) -> str:
    """An ID number for display: "11010519491231002X" -> "110105********002X"."""
    number = number.strip()
    if len(number) < 11:
        return "*" * max(len(number) - 2, 0) + number[-2:]
    return number[:6] + "*" * (len(number) - 10) + number[-4:]
