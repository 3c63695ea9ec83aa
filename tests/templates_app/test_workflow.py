"""WhatsApp approval (SPEC §6): draft → submit → pending → approved | rejected; edits and conflicts."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.exceptions import ConflictError
from templates_app.models import Template
from templates_app.services import template_approve, template_reject, template_submit, template_update
from tests.factories.accounts import UserFactory
from tests.factories.templates_app import TemplateFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


def submit(api, template):
    return api.post(f"{URL}{template.pk}/submit/")


def test_whatsapp_template_goes_draft_pending_approved(api):
    template = TemplateFactory(client=api.tenant, channel="whatsapp")
    assert template.status == "draft"
    response = submit(api, template)
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    reviewer = UserFactory(is_staff=True)
    approved = template_approve(template=Template.objects.get(pk=template.pk), reviewer=reviewer)
    assert (approved.status, approved.reviewed_by, approved.rejection_reason) == ("approved", reviewer, "")
    assert approved.reviewed_at is not None
    assert api.get(f"{URL}{template.pk}/").json()["status"] == "approved"


def test_rejected_template_shows_the_reason_and_can_be_corrected_and_resubmitted(api):
    template = TemplateFactory(client=api.tenant, channel="whatsapp", status="pending")
    template_reject(template=template, reviewer=None, reason="Promotional content in a utility template.")
    body = api.get(f"{URL}{template.pk}/").json()
    assert (body["status"], body["rejection_reason"]) == ("rejected", "Promotional content in a utility template.")
    edited = api.patch(f"{URL}{template.pk}/", {"category": "utility"}, format="json").json()
    assert (edited["status"], edited["rejection_reason"]) == ("draft", "Promotional content in a utility template.")
    resubmitted = submit(api, template).json()
    assert (resubmitted["status"], resubmitted["rejection_reason"]) == ("pending", "")


def test_a_rejected_template_can_be_resubmitted_as_is(api):
    template = TemplateFactory(client=api.tenant, channel="whatsapp", status="rejected")
    assert submit(api, template).json()["status"] == "pending"


@pytest.mark.parametrize("channel", ["sms", "telegram", "rcs"])
def test_submit_on_a_channel_without_approval_is_409(api, channel):
    template = TemplateFactory(client=api.tenant, channel=channel)
    assert template.status == "approved"
    assert_error(submit(api, template), 409, "conflict", "conflict")


@pytest.mark.parametrize("status", ["pending", "approved"])
def test_submit_when_pending_or_approved_is_409(api, status):
    template = TemplateFactory(client=api.tenant, channel="whatsapp", status=status)
    assert_error(submit(api, template), 409, "conflict", "conflict")
    template.refresh_from_db()
    assert template.status == status


@pytest.mark.parametrize("status", ["draft", "approved", "rejected"])
def test_approve_and_reject_need_a_pending_template(status):
    template = TemplateFactory(channel="whatsapp", status=status)
    with pytest.raises(ConflictError):
        template_approve(template=template, reviewer=None)
    with pytest.raises(ConflictError):
        template_reject(template=template, reviewer=None, reason="No.")
    template.refresh_from_db()
    assert template.status == status


@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_needs_a_reason(reason):
    template = TemplateFactory(channel="whatsapp", status="pending")
    with pytest.raises(ValidationError) as caught:
        template_reject(template=template, reviewer=None, reason=reason)
    assert caught.value.message_dict == {"rejection_reason": ["Give the reason for rejecting."]}
    template.refresh_from_db()
    assert template.status == "pending"


def test_editing_an_approved_whatsapp_template_sends_it_back_to_draft(api):
    template = TemplateFactory(client=api.tenant, channel="whatsapp", status="approved")
    body = api.patch(f"{URL}{template.pk}/", {"content": "Hello {{name}}!"}, format="json").json()
    assert (body["status"], body["content"], body["variables"]) == ("draft", "Hello {{name}}!", ["name"])
    template.refresh_from_db()
    assert (template.reviewed_at, template.reviewed_by) == (None, None)


def test_a_patch_that_changes_nothing_keeps_the_approval(api):
    template = TemplateFactory(client=api.tenant, channel="whatsapp", status="approved")
    body = api.patch(f"{URL}{template.pk}/", {"content": template.content, "name": template.name}, format="json")
    assert body.json()["status"] == "approved"


def test_editing_a_pending_whatsapp_template_is_409(api):
    template = TemplateFactory(client=api.tenant, channel="whatsapp", status="pending")
    assert_error(api.patch(f"{URL}{template.pk}/", {"content": "new"}, format="json"), 409, "conflict", "conflict")
    template.refresh_from_db()
    assert (template.status, template.content) == ("pending", "Hi {{first_name|there}}, your code is {{code}}.")


@pytest.mark.parametrize("channel", ["sms", "telegram", "rcs"])
def test_editing_other_channels_keeps_them_approved(api, channel):
    template = TemplateFactory(client=api.tenant, channel=channel)
    body = api.patch(f"{URL}{template.pk}/", {"content": "New {code}", "name": "renamed"}, format="json").json()
    assert (body["status"], body["name"], body["variables"]) == ("approved", "renamed", ["code"])


def test_patch_recomputes_encoding_and_segments(api):
    template = TemplateFactory(client=api.tenant, content="plain")
    body = api.patch(f"{URL}{template.pk}/", {"content": "ç" * 71}, format="json").json()
    assert (body["encoding"], body["segments"]) == ("ucs2", 2)


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"name": ""}, "name", "blank"),
        ({"name": "x" * 513}, "name", "max_length"),
        ({"language": "zz"}, "language", "invalid_language"),
        ({"category": "promo"}, "category", "invalid_choice"),
        ({"content": ""}, "content", "blank"),
        ({"content": "a" * 1225}, "content", "max_length"),
        ({"channel": "whatsapp"}, "channel", "immutable"),
        ({"channel": "email"}, "channel", "invalid_choice"),
    ],
)
def test_bad_patches_are_400_and_change_nothing(api, payload, field, code):
    template = TemplateFactory(client=api.tenant)
    before = Template.objects.filter(pk=template.pk).values().get()
    error = assert_error(api.patch(f"{URL}{template.pk}/", payload, format="json"), 400, "invalid_request_error", code)
    assert field in error["fields"]
    assert Template.objects.filter(pk=template.pk).values().get() == before


def test_patch_limit_is_that_of_the_templates_channel(api):
    template = TemplateFactory(client=api.tenant, channel="telegram")
    assert api.patch(f"{URL}{template.pk}/", {"content": "a" * 4096}, format="json").status_code == 200


def test_renaming_onto_an_existing_template_is_a_duplicate(api):
    TemplateFactory(client=api.tenant, name="taken")
    template = TemplateFactory(client=api.tenant, name="mine")
    assert_error(
        api.patch(f"{URL}{template.pk}/", {"name": "taken"}, format="json"), 400, "invalid_request_error", "duplicate"
    )


def test_same_channel_patch_is_accepted(api):
    template = TemplateFactory(client=api.tenant, channel="sms")
    assert api.patch(f"{URL}{template.pk}/", {"channel": "sms", "content": "y"}, format="json").status_code == 200


def test_update_service_refuses_a_stale_copy_of_a_template_now_pending():
    template = TemplateFactory(channel="whatsapp")
    stale = Template.objects.get(pk=template.pk)
    template_submit(template=template)
    with pytest.raises(ConflictError):
        template_update(template=stale, content="sneaky edit")
    assert Template.objects.get(pk=template.pk).content == "Hi {{first_name|there}}, your code is {{code}}."


def test_submit_is_decided_by_the_database_not_the_stale_object():
    template = TemplateFactory(channel="whatsapp")
    stale = Template.objects.get(pk=template.pk)
    template_submit(template=template)
    with pytest.raises(ConflictError):
        template_submit(template=stale)
