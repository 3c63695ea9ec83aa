"""A weekly series composed in Chromium (issue 22's "Dashboard"): Repeat's fields show once chosen,
the review says the rule in words with its next five runs in the user's zone, and the series' page
shows the same runs after Send."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from broadcasts.models import Broadcast

pytestmark = pytest.mark.django_db(transaction=True)

R = Membership.Role
# `daytime` is Tuesday 2026-11-24 15:00 UTC, 18:00 in Kampala (the client's zone): the first Monday
# or Thursday 09:00 from today is Thursday the 26th.
RUNS = [
    "Thursday 2026-11-26 09:00 EAT",
    "Monday 2026-11-30 09:00 EAT",
    "Thursday 2026-12-03 09:00 EAT",
    "Monday 2026-12-07 09:00 EAT",
    "Thursday 2026-12-10 09:00 EAT",
]


def test_compose_a_weekly_series_and_see_its_next_runs(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/new/")
    page.fill("input[name=name]", "Weekly deals")
    page.fill("textarea[name=recipients]", "+256772000001\n+256772000002")
    page.fill("#text", "Deals of the week")
    repeat = page.locator("[data-testid=repeat]")
    expect(repeat).to_be_hidden()  # only the chosen mode's fields show
    page.check("[data-testid=mode-recurring]")
    expect(repeat).to_be_visible()
    expect(repeat.locator("input[name=repeat_timezone]")).to_have_value("Africa/Kampala")
    repeat.locator("select[name=repeat_frequency]").select_option("weekly")
    repeat.locator("input[name=repeat_days][value=MO]").check()
    repeat.locator("input[name=repeat_days][value=TH]").check()
    repeat.locator("input[name=repeat_time]").fill("09:00")
    repeat.locator("input[name=repeat_count]").fill("10")
    page.click("#compose button[type=submit][value=review]:not(.sr-only)")

    expect(page.locator("[data-testid=review-schedule]")).to_have_text(
        "Every Monday and Thursday at 09:00 Kampala time, from 2026-11-24, 10 times"
    )
    expect(page.locator("[data-testid=next-runs] li")).to_have_text(RUNS)
    page.click("button[value=send]")

    expect(page).to_have_url(re.compile(r"/broadcasts/[0-9a-f-]{36}/$"))
    expect(page.locator("[data-testid=series-rule]")).to_contain_text("Every Monday and Thursday at 09:00 Kampala time")
    expect(page.locator("[data-testid=next-run]")).to_have_text(RUNS[0])
    expect(page.locator("[data-testid=upcoming] li")).to_have_text(RUNS)
    expect(page.locator("#action-pause")).to_be_visible()
    series = Broadcast.objects.get(client=shop.client)
    assert (series.schedule_mode, series.status, series.recurrence["rule"]) == (
        "recurring", "scheduled", "FREQ=WEEKLY;BYDAY=MO,TH",
    )  # fmt: skip
