"""The web chat contract's shared pieces: ids, limits and the check of a message."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from connectors.errors import ApiError

CHANNEL = "web"
# A conversation id is 24 random URL-safe bytes: unguessable, and safe in keys and URLs.
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_PAYLOAD_CHARS = 256
# A first message's id joins a retry to its conversation only when it is this long.
MIN_FIRST_MESSAGE_ID = 16
# Query numbers: ASCII digits only ("²".isdigit() is true) and short enough for a seq.
_QUERY_NUMBER = re.compile(r"^[0-9]{1,16}$")


def new_conversation_id() -> str:
    return secrets.token_urlsafe(24)


def valid_conversation_id(value: object) -> bool:
    return isinstance(value, str) and bool(_CONVERSATION_ID.match(value))


def first_message_fingerprint(message: dict[str, Any]) -> str | None:
    """What identifies a retried first message, or None when its id cannot be trusted to.

    The mapping hands whoever repeats the message its conversation, so only an id too long
    to guess counts (the widget's are 32 hex digits), and only with the same text and
    payload: two clients that both number their first message "1" stay apart.
    """
    message_id = message.get("id")
    if not isinstance(message_id, str) or len(message_id) < MIN_FIRST_MESSAGE_ID:
        return None
    material = "\x1f".join((message_id, message.get("text") or "", message.get("payload") or ""))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def decode_json(raw: bytes | str) -> object:
    """JSON from a client; anything undecodable (deep nesting, huge numbers too) is a 400."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
        raise ApiError(400, "malformed_json", "The body is not valid JSON.") from None


def query_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high]; else a 400 naming it."""
    if raw is None or raw == "":
        return default
    if not _QUERY_NUMBER.match(raw) or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_query", f"“{name}” must be a whole number {low}-{high}.")
    return int(raw)


def parse_message(body: object, max_text: int) -> dict[str, Any]:
    """Check a chat message object; raise ApiError saying what is wrong.

    Text longer than `max_text` is refused rather than cut, so nothing the customer wrote
    is silently lost.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object.")
    for name, limit in (("text", max_text), ("payload", MAX_PAYLOAD_CHARS), ("locale", 64)):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise ApiError(422, "invalid_field", f"“{name}” must be a string.")
        if isinstance(value, str) and len(value) > limit:
            code = "text_too_long" if name == "text" else "invalid_field"
            raise ApiError(422, code, f"“{name}” is longer than {limit} characters.")
    message_id = body.get("id")
    if message_id is not None and not (
        isinstance(message_id, str) and _MESSAGE_ID.match(message_id)
    ):
        raise ApiError(422, "invalid_field", "“id” must be 1-64 letters, digits or -_.:")
    if not (body.get("text") or "").strip() and not body.get("payload"):
        raise ApiError(422, "empty_message", "Send “text” or “payload”.")
    return body
