"""Take the README's dashboard screenshots from a demo company: python docs/screenshots.py.

Builds a 2,000-account demo (as `make demo` does, with fewer events), trains churn, serves it with
`tenure serve` and photographs the Overview and Accounts pages with the system Chromium into
docs/images/. Needs Chromium at /usr/bin/chromium (`make browser`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

IMAGES = Path(__file__).parent / "images"


def tenure(folder: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tenure.cli", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="tenure-shots-"))
    tenure(folder, "demo", "--accounts", "2000", "--events", "300000")
    tenure(folder, "churn", "train")
    key = tenure(folder, "keys", "create", "screenshots", "--role", "admin").strip()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tenure.cli", "serve", "--port", str(port)], cwd=folder
    )
    base = f"http://127.0.0.1:{port}"
    try:
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(600):  # the server builds the account snapshot after it starts
            try:
                if httpx.get(f"{base}/api/accounts", headers=headers, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{base}/login")
            page.fill("input[name=api_key]", key)
            page.click("button[type=submit]")
            page.wait_for_url("**/overview")
            page.wait_for_function("() => document.querySelectorAll('.card canvas').length > 0")
            page.wait_for_timeout(1500)
            IMAGES.mkdir(exist_ok=True)
            page.screenshot(path=str(IMAGES / "overview.png"))
            page.goto(f"{base}/accounts")
            page.wait_for_function("() => !!document.querySelector('#table-accounts tbody tr')")
            page.wait_for_timeout(500)
            page.screenshot(path=str(IMAGES / "accounts.png"))
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    print(f"screenshots in {IMAGES}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("TENURE_DB", "duckdb:///tenure.duckdb")
    main()
