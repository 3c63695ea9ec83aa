"""A real browser (Debian's chromium, headless, through selenium): log in, compose, watch the counter.

Skips only when chromium is absent and REQUIRE_SERVICES is unset; in CI (`.ci/run` installs it) a
missing browser fails."""

from __future__ import annotations

import os
import shutil

import pytest

from accounts.models import Membership
from tests.conftest import service_unavailable
from tests.factories.accounts import MembershipFactory, UserFactory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        service_unavailable("chromium", "install the chromium and chromium-driver packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_log_in_compose_and_see_the_counter_update(live_server, browser, make_shop):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    shop = make_shop()
    user = UserFactory(username="ann")
    user.set_password("a-long-pass-4321")
    user.save()
    MembershipFactory(user=user, client=shop.client, role=Membership.Role.MANAGER)
    wait = WebDriverWait(browser, 10)

    browser.get(f"{live_server.url}/login/")
    browser.find_element(By.NAME, "username").send_keys("ann")
    browser.find_element(By.NAME, "password").send_keys("a-long-pass-4321")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.whoami")))

    browser.get(f"{live_server.url}/broadcasts/new/")
    text = wait.until(ec.presence_of_element_located((By.ID, "text")))
    text.send_keys("hello")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=left]"), "155"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=encoding]").text == "GSM-7"
    text.send_keys(" ça va")  # ç is not GSM 03.38 (only Ç is)
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=encoding]"), "UCS-2"))
    assert "ç" in browser.find_element(By.CSS_SELECTOR, "[data-testid=non-gsm]").text
    # Smart encoding maps ç to Ç (GSM 03.38 has only the capital): the switch fixes the text.
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=smart-switch]")))
    browser.find_element(By.CSS_SELECTOR, "[data-testid=smart-switch]").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=encoding]"), "GSM-7"))
    text = browser.find_element(By.ID, "text")
    assert text.get_attribute("value") == "hello Ça va"
    text.clear()
    text.send_keys("it’s fine")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=smart-switch]")))
    browser.find_element(By.CSS_SELECTOR, "[data-testid=smart-switch]").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=encoding]"), "GSM-7"))
    assert browser.find_element(By.ID, "text").get_attribute("value") == "it's fine"


def test_a_translations_counter_and_the_contact_picker_work_in_a_browser(live_server, browser, make_shop):
    """htmx as the pages use it: a translation's counter counts only that version (hx-vals and
    hx-params), and a picked contact lands in the chosen list as a ticked checkbox."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.factories.contacts import ContactFactory

    shop = make_shop()
    ann = ContactFactory(client=shop.client, first_name="Annabel", last_name="Okello", phone="+256772000021")
    user = UserFactory(username="bea")
    user.set_password("a-long-pass-4321")
    user.save()
    MembershipFactory(user=user, client=shop.client, role=Membership.Role.MANAGER)
    wait = WebDriverWait(browser, 10)
    browser.get(f"{live_server.url}/login/")
    browser.find_element(By.NAME, "username").send_keys("bea")
    browser.find_element(By.NAME, "password").send_keys("a-long-pass-4321")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.whoami")))

    browser.get(f"{live_server.url}/broadcasts/new/")
    wait.until(ec.presence_of_element_located((By.ID, "text"))).send_keys("hello")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=add-language]").click()
    translation = wait.until(ec.presence_of_element_located((By.ID, "text-1")))
    translation.send_keys("ça va")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#counter-1 [data-testid=encoding]"), "UCS-2"))
    assert browser.find_element(By.CSS_SELECTOR, "#counter [data-testid=encoding]").text == "GSM-7"
    assert "ç" in browser.find_element(By.CSS_SELECTOR, "#counter-1 [data-testid=non-gsm]").text

    browser.find_element(By.NAME, "contact_q").send_keys("annab")
    add = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=contact-results] button")))
    add.click()
    chosen = f"#chosen-contacts input[name=contacts][value='{ann.pk}']"
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, chosen)))
    assert browser.find_element(By.CSS_SELECTOR, chosen).is_selected()
    assert browser.current_url.endswith("/broadcasts/new/")  # htmx swapped a fragment, no page load
