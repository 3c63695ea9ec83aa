"""Support staff review templates in the admin: search, filters, approve, reject with a reason."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from accounts.models import User
from templates_app.models import Template
from tests.factories.templates_app import TemplateFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/templates_app/template/"


@pytest.fixture
def staff_user():
    return User.objects.create_superuser("staff", "staff@example.com", "pw")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def shown(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?q=welcome",
        "?q=code",
        "?status__exact=pending",
        "?channel__exact=whatsapp",
        "?language__exact=eng",
        "?category__exact=utility",
    ],
)
def test_changelist_search_and_filters_load(staff, query):
    template = TemplateFactory(name="welcome", channel="whatsapp", status="pending")
    response = staff.get(CHANGELIST + query)
    assert response.status_code == 200
    if query in ("", "?q=welcome", "?q=code", "?status__exact=pending", "?channel__exact=whatsapp"):
        assert template.name in response.content.decode()


def test_search_matches_content(staff):
    TemplateFactory(name="alpha", content="Your parcel is here")
    TemplateFactory(name="beta", content="Happy birthday")
    page = staff.get(CHANGELIST + "?q=parcel").content.decode()
    assert "alpha" in page
    assert "beta" not in page


def test_change_page_is_read_only_and_adding_is_not_offered(staff):
    template = TemplateFactory()
    assert staff.get(f"{CHANGELIST}{template.pk}/change/").status_code == 200
    assert staff.get(f"{CHANGELIST}add/").status_code == 403


def test_approve_action_approves_pending_and_skips_the_rest(staff, staff_user):
    pending = TemplateFactory(channel="whatsapp", status="pending")
    draft = TemplateFactory(channel="whatsapp")
    response = staff.post(
        CHANGELIST, {"action": "approve_templates", "_selected_action": [pending.pk, draft.pk]}, follow=True
    )
    pending.refresh_from_db()
    draft.refresh_from_db()
    assert (pending.status, pending.reviewed_by) == ("approved", staff_user)
    assert draft.status == "draft"
    assert shown(response) == ["Approved 1 template(s).", "Skipped 1 template(s) that were not pending."]


def test_reject_action_asks_for_a_reason_first(staff):
    pending = TemplateFactory(channel="whatsapp", status="pending", name="promo")
    response = staff.post(CHANGELIST, {"action": "reject_templates", "_selected_action": [pending.pk]})
    assert response.status_code == 200
    page = response.content.decode()
    assert "promo" in page
    assert 'name="reason"' in page
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_reject_action_without_a_reason_changes_nothing(staff):
    pending = TemplateFactory(channel="whatsapp", status="pending")
    response = staff.post(
        CHANGELIST, {"action": "reject_templates", "_selected_action": [pending.pk], "apply": "1", "reason": " "}
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_reject_action_with_a_reason_rejects_through_the_service(staff, staff_user):
    pending = TemplateFactory(channel="whatsapp", status="pending")
    approved = TemplateFactory(channel="sms")
    response = staff.post(
        CHANGELIST,
        {
            "action": "reject_templates",
            "_selected_action": [pending.pk, approved.pk],
            "apply": "1",
            "reason": "Variables at the start of the body.",
        },
        follow=True,
    )
    pending.refresh_from_db()
    approved.refresh_from_db()
    assert (pending.status, pending.rejection_reason, pending.reviewed_by) == (
        "rejected",
        "Variables at the start of the body.",
        staff_user,
    )
    assert approved.status == "approved"
    assert shown(response) == ["Rejected 1 template(s).", "Skipped 1 template(s) that were not pending."]


def test_delete_from_the_admin(staff):
    template = TemplateFactory()
    response = staff.post(f"{CHANGELIST}{template.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Template.objects.filter(pk=template.pk).exists()
