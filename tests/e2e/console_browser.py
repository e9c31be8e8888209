"""What the Console's browser tests share: members made in the terminal, signing in, and
screenshots at a desktop and a phone width (the `browser` and `shots` fixtures are in
tests/e2e/conftest.py).

Every picture lands in the test's own folder and in /tmp/console-shots (emptied once per
test session), where a person looks at them all together.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from playwright import sync_api as playwright_api

from tests.e2e.platform import PlatformServer

CHROMIUM = Path("/usr/bin/chromium")
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
SHOTS_COPY = Path("/tmp/console-shots")


def create_user(platform: PlatformServer, email: str, role: str, password: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "antiphon", "users", "create", "--email", email, "--role", role,
         "--password-stdin", "--data-dir", str(platform.data_dir)],
        input=password + "\n", text=True, check=True, capture_output=True,
    )


def sign_in(page: playwright_api.Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def screenshot(page: playwright_api.Page, shots: Path, name: str) -> None:
    """The page as it is now, at both widths (full length), into both folders."""
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        path = shots / f"{name}-{label}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        shutil.copy(path, SHOTS_COPY / path.name)
    page.set_viewport_size({"width": 1280, "height": 800})
