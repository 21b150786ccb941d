"""The conversation repository: claim-and-load, save-and-release, transcript reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import redis.asyncio as aioredis

from bot.messages import Button, Card, Entry
from bot.store import keys, scripts
from bot.store.batching import ScriptBatcher
from bot.store.encoding import compact_json, json_string
from bot.store.guard import guarded

T = TypeVar("T")
# Transcript entries one read returns at most; a reader with more to catch up reads again.
READ_PAGE = 200


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A transcript line before the store numbers it."""

    role: str
    text: str
    ts: float
    buttons: tuple[Button, ...] = ()
    card: Card | None = None
    client_id: str | None = None
    author: str | None = None  # the agent's name customers see, on agent entries

    def to_json(self) -> str:
        if self.card is not None:
            return compact_json(self._as_dict())
        # Every line of every turn is encoded: by hand, in the same characters as the dict
        # would be (tests/test_store.py compares), it takes half the time.
        line = f'{{"r":{json_string(self.role)},"t":{json_string(self.text)},"ts":{self.ts!r}'
        if self.buttons:
            pairs = (f"[{json_string(b.title)},{json_string(b.payload)}]" for b in self.buttons)
            line += f',"b":[{",".join(pairs)}]'
        if self.client_id is not None:
            line += f',"i":{json_string(self.client_id)}'
        if self.author is not None:
            line += f',"a":{json_string(self.author)}'
        return line + "}"

    def _as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"r": self.role, "t": self.text, "ts": self.ts}
        if self.buttons:
            data["b"] = [[b.title, b.payload] for b in self.buttons]
        if self.card is not None:
            data["c"] = self.card.as_dict()
        if self.client_id is not None:
            data["i"] = self.client_id
        if self.author is not None:
            data["a"] = self.author
        return data

    def __post_init__(self) -> None:
        # Milliseconds are enough, and the stored and the returned copy must be equal.
        object.__setattr__(self, "ts", round(self.ts, 3))

    def numbered(self, seq: int) -> Entry:
        return Entry(
            seq, self.role, self.text, self.ts, self.buttons, self.card, self.client_id, self.author
        )


def entry_from_stream(stream_id: str, fields: Sequence[str] | dict[str, str]) -> Entry:
    """Decode one XRANGE item; the stream id `<seq>-0` carries the seq."""
    # redis-py decodes XRANGE fields to a dict; inside a script's reply they are a flat list.
    if not isinstance(fields, dict):
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    raw = fields["e"]
    data = json.loads(raw)
    card = data.get("c")
    return Entry(
        seq=int(stream_id.split("-", 1)[0]),
        role=data["r"],
        text=data["t"],
        ts=float(data["ts"]),
        buttons=tuple(Button(title, payload) for title, payload in data.get("b", ())),
        card=Card.from_dict(card) if card else None,
        client_id=data.get("i"),
        author=data.get("a"),
    )


@dataclass(slots=True)
class Claim:
    """What CLAIM found: `ok` (lock held, state loaded), `busy`, or `dup` (already answered)."""

    status: Literal["ok", "busy", "dup"]
    state: str | None = None
    entries: list[Entry] = field(default_factory=list)


class ConversationStore:
    """Conversation state, locks, de-duplication and transcripts in Redis."""

    def __init__(self, redis: aioredis.Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._claim = redis.register_script(scripts.CLAIM)
        self._save = redis.register_script(
            scripts.save_script(ttl_seconds, keys.LOG_MAXLEN, keys.SEEN_TTL_S, keys.EVENTS_CHANNEL)
        )
        self._release = redis.register_script(scripts.RELEASE)
        self._batch = ScriptBatcher(redis)

    @property
    def batcher(self) -> ScriptBatcher:
        """The pipeline the turns' scripts share; domain services send theirs with it."""
        return self._batch

    async def claim(self, conversation_id: str, token: str, message_id: str | None) -> Claim:
        """One round trip: skip a seen message id, else lock the conversation and load it."""
        result: list[Any] = await guarded(
            self._batch.run(
                self._claim,
                keys.conversation_keys(conversation_id),
                [token, message_id or ""],
            )
        )
        status = result[0]
        if status == "busy":
            return Claim("busy")
        state = result[1] or None
        if status == "dup":
            entries = [entry_from_stream(sid, fields) for sid, fields in result[2]]
            return Claim("dup", state, entries)
        return Claim("ok", state)

    async def save(
        self,
        conversation_id: str,
        *,
        token: str,
        state: str,
        message_id: str | None,
        entries: Sequence[NewEntry],
    ) -> list[Entry]:
        """One round trip: store state, append entries, remember the message, unlock."""
        return await self._run_save(conversation_id, token, state, message_id, entries)

    async def append(self, conversation_id: str, entries: Sequence[NewEntry]) -> list[Entry]:
        """Add lines from outside a turn (an agent, a notification) to the transcript."""
        return await self._run_save(conversation_id, "", "", None, entries)

    async def release(self, conversation_id: str, token: str) -> None:
        """Free the lock of a turn that failed before it could save."""
        await guarded(self._release(keys=[keys.conversation_lock(conversation_id)], args=[token]))

    async def read(self, conversation_id: str, after: int, limit: int = READ_PAGE) -> list[Entry]:
        """Transcript entries with seq > `after`, oldest first."""
        items = await guarded(
            self._redis.xrange(keys.conversation_log(conversation_id), f"{after + 1}-0", "+", limit)
        )
        return [entry_from_stream(sid, fields) for sid, fields in items]

    async def first_message(self, fingerprint: str, conversation_id: str) -> str:
        """The conversation of this first message: `conversation_id`, or the one a
        previous delivery of the same message (same `fingerprint`) started."""
        key = keys.first_message(fingerprint)
        claimed = await guarded(self._redis.set(key, conversation_id, nx=True, ex=keys.SEEN_TTL_S))
        if claimed:
            return conversation_id
        existing = await guarded(self._redis.get(key))
        return str(existing) if existing else conversation_id

    async def poke(self, conversation_id: str) -> int:
        """Wake the conversation's readers in every process without adding an entry (its
        mode changed); returns its last seq."""
        _state, seq = await self.load(conversation_id)
        channel = keys.EVENTS_CHANNEL
        await guarded(self._redis.publish(channel, f"{conversation_id} {seq}"))
        return seq

    async def load(self, conversation_id: str) -> tuple[str | None, int]:
        """The stored state (None if unknown) and the last seq, without locking."""
        state, seq = await guarded(
            self._redis.hmget(keys.conversation(conversation_id), ["s", "q"])  # type: ignore[arg-type]
        )
        return state, int(seq or 0)

    async def _run_save(
        self,
        conversation_id: str,
        token: str,
        state: str,
        message_id: str | None,
        entries: Sequence[NewEntry],
    ) -> list[Entry]:
        args: list[Any] = [token, state, message_id or "", conversation_id]
        args.extend(entry.to_json() for entry in entries)
        first = int(
            await guarded(
                self._batch.run(self._save, keys.conversation_keys(conversation_id), args)
            )
        )
        return [entry.numbered(first + i) for i, entry in enumerate(entries)]
