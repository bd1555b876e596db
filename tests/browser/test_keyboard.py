"""The fleet board works from the keyboard alone: tab to the search, type, Enter; tab to a machine and
open it; every focused control shows a visible outline."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SERIAL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_filter_and_open_a_machine_with_the_keyboard_only(page, farm, login, make_user):
    with SERIAL:
        machines = [farm.add_machine(name) for name in ("mk4-a", "mk4-b", "xl-1")]
        farm.poll(*machines)
    login(page.context, make_user("tech", staff=True))
    page.goto("/fleet/")

    search = page.get_by_label("Search")
    for _ in range(30):  # through the header's links to the search box
        page.keyboard.press("Tab")
        if search.evaluate("el => el === document.activeElement"):
            break
    expect(search).to_be_focused()
    outline = search.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "the focused field shows no outline"
    page.keyboard.type("xl")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=xl"))
    expect(page.locator("article.machine-card")).to_have_count(1)

    link = page.get_by_role("link", name="xl-1")
    for _ in range(30):
        page.keyboard.press("Tab")
        if link.evaluate("el => el === document.activeElement"):
            break
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("xl-1")
