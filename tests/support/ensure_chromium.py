#!/usr/bin/env python3
"""Make sure a headless Chromium is there for the report rendering test.

Installs Debian's ``chromium`` package with apt-get when no browser is found and apt-get
can run (as root); prints where the browser is, or why there is none, and never fails the
caller: the test that needs it skips with this script's reason. Standalone (no project
imports), so a test runner's setup step can call it before the suite:

    python3 tests/support/ensure_chromium.py

Tests call ``render(page, screenshot=png)``: the page's DOM after Chromium loaded it, and
its screenshot; the test is skipped (with the reason) when there is no browser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_TIMEOUT_S = 900


def find_chromium() -> str | None:
    """The first Chromium-family browser on PATH (or /usr/bin/chromium), else None."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium() -> tuple[str | None, str]:
    """(browser path, message): installs with apt-get when missing and possible."""
    found = find_chromium()
    if found:
        return found, f"chromium: {found}"
    apt = shutil.which("apt-get")
    if apt is None:
        return None, "chromium is not installed and there is no apt-get to install it"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return None, "chromium is not installed; `apt-get install -y chromium` needs root"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in ([apt, "update", "-q"], [apt, "install", "-y", "-q", "chromium"]):
        try:
            done = subprocess.run(
                args, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{' '.join(args[1:])} did not finish: {exc}"
        if done.returncode != 0 and args[1] == "install":
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, "apt-get install chromium failed: " + " / ".join(tail)
    found = find_chromium()
    if found:
        return found, f"chromium installed: {found}"
    return None, "apt-get ran but no chromium binary was found afterwards"


_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
RENDER_TIMEOUT_S = 120


def render(
    page: Path, screenshot: Path | None = None, *, window: tuple[int, int] = (1200, 2000)
) -> str:
    """Load ``page`` (a local file) in headless Chromium: its DOM after load, and with
    ``screenshot`` a PNG of the window. Skips the calling test when there is no browser."""
    browser, message = ensure_chromium()
    if browser is None:
        import pytest

        pytest.skip(message)
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        base = [browser, *_FLAGS, f"--user-data-dir={profile}"]
        if screenshot is not None:
            shot = subprocess.run(
                [
                    *base,
                    f"--screenshot={screenshot}",
                    f"--window-size={window[0]},{window[1]}",
                    url,
                ],
                capture_output=True,
                text=True,
                timeout=RENDER_TIMEOUT_S,
            )
            if not Path(screenshot).is_file():
                raise RuntimeError(f"chromium wrote no screenshot: {shot.stderr[-500:]}")
        dom = subprocess.run(
            [*base, "--dump-dom", url], capture_output=True, text=True, timeout=RENDER_TIMEOUT_S
        )
    if dom.returncode != 0 or not dom.stdout.strip():
        raise RuntimeError(f"chromium --dump-dom failed ({dom.returncode}): {dom.stderr[-500:]}")
    return dom.stdout


def main() -> int:
    path, message = ensure_chromium()
    print(message)
    return 0  # a missing browser skips the tests that need it; it is not a setup failure


if __name__ == "__main__":
    sys.exit(main())
