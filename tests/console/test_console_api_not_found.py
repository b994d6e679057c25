"""Paths no route takes answer JSON under serve too: an id holding a line break slips past the
console's mount (its pattern stops at a line break) and reached Starlette's text/plain page."""

from __future__ import annotations

import asyncio


def test_an_id_with_a_line_break_gets_a_json_404(console):
    async def main():
        await console.start()
        async with console.client("admin") as http:
            for url in ("/api/v1/runs/abc%0Adef", "/api/v1/runs/%0A/cancel"):
                r = await http.get(url)
                assert r.status_code == 404, url
                assert r.headers["content-type"].startswith("application/json"), url
                assert "error" in r.json(), url
            page = await http.get("/nowhere%0A")  # a page, not the API: the console's own 404 page
            assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
            await console.stop()
    asyncio.run(main())
