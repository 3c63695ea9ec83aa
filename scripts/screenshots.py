"""`make screenshots`: the dashboard's main pages as PNGs in docs/screenshots/.

A throwaway database (test settings, tag `screens`: Celery runs inline) gets the demo tenant
(`manage.py seed_demo`); a live server thread serves it, and Debian's chromium (never a
`playwright install` download; DESIGN.md's flags, headless) signs in as the demo user, sends one
broadcast through the compose wizard and photographs each page. The database is dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

OUT = BASE_DIR / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def main() -> int:
    if not os.path.exists(CHROMIUM):
        print(f"screenshots: no chromium at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 1
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["HERALD_TEST_TAG"] = "screens"
    # Playwright's sync API keeps an event loop in this thread; the ORM calls here are plain sync code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    import django

    django.setup()
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.management import call_command
    from django.db import connections
    from django.test.testcases import LiveServerThread
    from django.test.utils import setup_databases, teardown_databases

    old_config = setup_databases(verbosity=0, interactive=False)
    server = None
    try:
        call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115 - the login is known
        server = LiveServerThread("localhost", StaticFilesHandler, connections_override={}, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        shoot(f"http://localhost:{server.port}")
    finally:
        if server is not None:
            server.terminate()
        connections.close_all()
        teardown_databases(old_config, verbosity=0)
    return 0


def shoot(url: str) -> None:
    from playwright.sync_api import ViewportSize, sync_playwright

    from dashboard.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERNAME

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport=ViewportSize(width=1280, height=900))
        page.set_default_timeout(20_000)

        def save(name: str) -> None:
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
            print(f"screenshots: docs/screenshots/{name}.png", flush=True)

        page.goto(f"{url}/login/")
        save("login")
        page.fill("input[name=username]", DEMO_USERNAME)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_selector("p.whoami")

        page.goto(f"{url}/broadcasts/new/")
        page.fill("input[name=name]", "Weekend offer")
        page.locator("input[name=contact_lists]").first.check()
        page.fill("textarea[name=recipients]", "+256772123456\n+254712345678\n+33612345678")
        page.locator("#text").press_sequentially("Hello {{first_name|there}}, ça va? 20% off this weekend.")
        page.wait_for_selector("#counter [data-testid=transliterate-switch]")
        page.select_option("select[name=sender]", "Herald")
        page.select_option("select[name=purpose]", "transactional")  # no quiet hours whatever the time
        save("compose")
        page.click("#compose button[type=submit][value=review]:not(.sr-only)")
        page.wait_for_selector("[data-testid=total-contacts]")
        save("review")
        page.click("button[value=send]")
        page.wait_for_url("**/broadcasts/*-*/")
        save("broadcast-detail")

        for name, path in [
            ("overview", "/"),
            ("broadcasts", "/broadcasts/"),
            ("messages", "/messages/"),
            ("contacts", "/contacts/"),
            ("contact-imports", "/contacts/imports/"),
            ("templates", "/templates/"),
            ("wallet", "/wallet/"),
            ("api-management", "/api-management/"),
            ("settings", "/settings/"),
        ]:
            page.goto(f"{url}{path}")
            save(name)
        # One of each object a manager opens from those lists: a contact, a list, a template.
        for name, listing, link in [
            ("contact", "/contacts/", "main table a[href*='/contacts/']"),
            ("contact-list", "/contacts/lists/", "main table a[href*='/contacts/lists/']"),
            ("template", "/templates/", "main table a[href*='/templates/']"),
        ]:
            page.goto(f"{url}{listing}")
            page.locator(link).first.click()
            save(name)
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
