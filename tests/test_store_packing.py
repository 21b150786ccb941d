"""Commands packed by hiredis: the same bytes as redis-py's own packer, on every connection kind."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from bot.store.client import connect
from bot.store.packing import hiredis_packing, pack_with_hiredis

COMMANDS = [
    ("EVALSHA", "a" * 40, 2, "sw:{c:web:x}:s", b"raw", 1.5, 0.1, 1e20, 1_795_399_200.123456),
    ("HSET", "k", "名字", "张三 😀", "n", -7),
    ("CONFIG GET", "maxmemory"),
    (b"CLIENT SETINFO", b"LIB-NAME", "redis-py"),
    ("SET", "big", "x" * 100_000),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_packs_like_redis_py(command: tuple[object, ...]) -> None:
    ours = hiredis_packing(Connection)()
    theirs = Connection()
    assert b"".join(ours.pack_command(*command)) == b"".join(theirs.pack_command(*command))


def test_pipelines_pack_like_redis_py() -> None:
    ours, theirs = hiredis_packing(Connection)(), Connection()
    assert b"".join(ours.pack_commands(COMMANDS)) == b"".join(theirs.pack_commands(COMMANDS))


def test_a_value_redis_cannot_take_is_a_data_error() -> None:
    with pytest.raises(DataError):
        hiredis_packing(Connection)().pack_command("SET", "k", {"a": 1})


@pytest.mark.parametrize(
    "url", ["redis://localhost/0", "rediss://localhost/0", "unix:///tmp/redis.sock"]
)
def test_every_kind_of_url_keeps_its_connection_class(url: str) -> None:
    plain = aioredis.Redis.from_url(url).connection_pool.connection_class
    client = pack_with_hiredis(aioredis.Redis.from_url(url))
    packing = client.connection_pool.connection_class
    assert issubclass(packing, plain)
    assert plain in (Connection, SSLConnection, UnixDomainSocketConnection)
    assert packing.pack_command is not plain.pack_command


async def test_a_real_server_understands_it(real_redis: str) -> None:
    handles = connect(real_redis)
    try:
        client = handles.commands
        await client.hset("h", mapping={"名字": "张三 😀", "n": 1.25})
        assert await client.hgetall("h") == {"名字": "张三 😀", "n": "1.25"}
        async with client.pipeline(transaction=False) as pipe:
            pipe.set("a", "x" * 100_000).get("a").incrbyfloat("f", 0.1)
            assert await pipe.execute() == [True, "x" * 100_000, 0.1]
    finally:
        await handles.close()
