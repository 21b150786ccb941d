"""Operations: `/health` (is the store answering?) and `/metrics` (Prometheus)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.metrics import Metrics
from bot.store.client import RedisHandles


def routes(redis: RedisHandles, metrics: Metrics) -> list[web.RouteDef]:
    async def health(request: web.Request) -> web.Response:
        up = await redis.ping()
        metrics.store_up.set(1 if up else 0)
        body = {
            "status": "ok" if up else "degraded",
            "store": "embedded" if redis.embedded else "redis",
            "redis": up,
        }
        return web.json_response(body, status=200 if up else 503)

    async def metrics_page(request: web.Request) -> web.Response:
        metrics.store_up.set(1 if await redis.ping() else 0)
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return [web.get("/health", health), web.get("/metrics", metrics_page)]
