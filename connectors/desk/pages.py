"""The agent desk's page and its two assets: plain JS and CSS, no build step, no CDN.

They live outside /desk/api/, so the desk's sign-in middleware lets them through; the page
asks GET /desk/api/me and shows its sign-in form on a 401. The page sets everything that
customers and agents wrote as text (`textContent`), never as HTML; the Content Security
Policy below is the second line: no inline or foreign script could run even if some text
were ever parsed as markup, and no other site may frame the desk (clickjacking).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"

# Our own script, style, images (the supervisor's SVG charts) and connections (the API and
# /desk/ws: CSP 3 lets 'self' match ws: and wss: on the page's own host).
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A desk update must reach agents at their next reload, not after a cache expires.
    "Cache-Control": "no-cache",
}


class DeskPages:
    """GET /desk (the page), /desk/desk.js and /desk/desk.css."""

    def __init__(self, static: Path = STATIC) -> None:
        self._static = static

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/desk", self.page),
            web.get("/desk/", self.page),
            web.get("/desk/desk.js", self.asset),
            web.get("/desk/desk.css", self.asset),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(self._static / "desk.html", headers=HEADERS)

    async def asset(self, request: web.Request) -> web.FileResponse:
        name = request.path.rsplit("/", 1)[-1]
        return web.FileResponse(self._static / name, headers=HEADERS)
