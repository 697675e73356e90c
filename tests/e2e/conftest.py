"""Browser-test helpers: signing in through the real form, screenshots to look at."""
from __future__ import annotations

from pathlib import Path

import pytest

SHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture
def sign_in(stack):
    """sign_in(page, email, password): through /login, as a person would."""

    def _sign_in(page, email, password="correct-horse-battery"):
        page.goto(stack.url + "/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    return _sign_in


@pytest.fixture
def shoot():
    """shoot(page, name): a 1280×800 and a 375×800 screenshot under tests/e2e/screenshots."""

    def _shoot(page, name):
        SHOTS.mkdir(exist_ok=True)
        original = page.viewport_size
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 800})
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size(original)

    return _shoot
