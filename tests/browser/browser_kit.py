"""Helpers of the browser tests (no tests here): signing in through the simulated Entra ID's
pages, and screenshots for docs/console.md."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs/console"
VIEWPORT = {"width": 1280, "height": 800}
ACCOUNTS = {"alice": "Alice Martin", "victor": "Victor Viewer", "ada": "Ada Admin", "nora": "Nora Noroles"}
USERNAMES = {name: f"{name}@mssp.onmicrosoft.com" for name in ACCOUNTS}
MSSP = "mssp.onmicrosoft.com"
TIMEOUT_MS = 20_000
TRIAGE_NAME = "triage-high-severity-incidents"


def sign_in(page: Any, user: str, next_path: str = "/runs") -> None:
    """Through the console's /signin and the simulated Entra ID's account picker, as a person."""
    page.goto(f"/signin?next={next_path}")
    page.get_by_role("button", name=ACCOUNTS[user]).click()
    page.wait_for_url(f"**{next_path}")


def run_id_of(url: str) -> str:
    """The run id of a run page's URL (``/runs/<id>?done=...``)."""
    return url.split("/runs/")[1].split("?")[0]


def top(locator: Any) -> None:
    """Scroll so that ``locator`` is at the top of the viewport (for a screenshot)."""
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")


def shot(page: Any, name: str) -> bytes:
    """A screenshot of the page's viewport; written to docs/console/<name>.png with SOAR_UPDATE_SCREENSHOTS=1."""
    png = page.screenshot()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SOAR_UPDATE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"{name}.png").write_bytes(png)
    return png
