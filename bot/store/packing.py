"""Commands packed into the Redis protocol by hiredis's C packer instead of redis-py's Python.

redis-py's synchronous client packs with hiredis when it is installed; its asyncio client
(up to 7.x at least) always packs in Python, one `encode` call per argument. A turn's scripts
carry a dozen arguments each, so that packing was a quarter of a booking turn's CPU. The
connection classes here pack a command with `hiredis.pack_command`, which gives the same
bytes (tests/test_store_packing.py compares them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import DataError


class _HiredisPacking:
    """Mixed into a redis-py asyncio connection class ahead of it."""

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if isinstance(first, str):  # "CONFIG GET" and the like: one argument per word
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as error:  # what redis-py's own packer raises for such a value
            raise DataError(str(error)) from error

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        return [b"".join(self.pack_command(*command)[0] for command in commands)]


_PACKING: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def hiredis_packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` packing its commands with hiredis (one class per class)."""
    packing = _PACKING.get(connection_class)
    if packing is None:
        name = f"Hiredis{connection_class.__name__}"
        packing = _PACKING[connection_class] = type(name, (_HiredisPacking, connection_class), {})
    return packing


def pack_with_hiredis(client: aioredis.Redis) -> aioredis.Redis:
    """`client`, whose connections (TCP, TLS or Unix socket, as its URL said) now pack with
    hiredis. Call before the first command."""
    pool = client.connection_pool
    pool.connection_class = hiredis_packing(pool.connection_class)
    return client
