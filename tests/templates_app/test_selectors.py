"""templates_for_use: what the broadcasts app calls to pick a template by name, per language."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from templates_app.selectors import template_get, templates_for_use
from tests.factories.templates_app import TemplateFactory

pytestmark = pytest.mark.django_db


def test_returns_approved_templates_by_language(tenant, django_assert_num_queries):
    eng = TemplateFactory(client=tenant, name="welcome", channel="sms", language="eng")
    fra = TemplateFactory(client=tenant, name="welcome", channel="sms", language="fra")
    TemplateFactory(client=tenant, name="welcome", channel="telegram", language="swa")
    TemplateFactory(client=tenant, name="other", channel="sms", language="lug")
    TemplateFactory(name="welcome", channel="sms", language="ara")  # another client's
    with django_assert_num_queries(1):
        found = templates_for_use(client=tenant, name="welcome", channel="sms")
    assert found == {"eng": eng, "fra": fra}


def test_only_approved_languages_are_returned(tenant):
    eng = TemplateFactory(client=tenant, name="promo", channel="whatsapp", status="approved")
    TemplateFactory(client=tenant, name="promo", channel="whatsapp", language="fra", status="pending")
    TemplateFactory(client=tenant, name="promo", channel="whatsapp", language="spa", status="rejected")
    TemplateFactory(client=tenant, name="promo", channel="whatsapp", language="deu")
    assert templates_for_use(client=tenant, name="promo", channel="whatsapp") == {"eng": eng}


def error_of(call):
    with pytest.raises(ValidationError) as caught:
        call()
    assert list(caught.value.error_dict) == ["template"]
    (error,) = caught.value.error_dict["template"]
    return error


@pytest.mark.parametrize(
    ("name", "channel"),
    [("missing", "sms"), ("welcome", "whatsapp"), ("Welcome", "sms"), ("welcome", "email")],
)
def test_no_template_of_that_name_on_that_channel_is_template_not_found(tenant, name, channel):
    TemplateFactory(client=tenant, name="welcome", channel="sms")
    TemplateFactory(name="missing", channel="sms")  # another client's does not count
    error = error_of(lambda: templates_for_use(client=tenant, name=name, channel=channel))
    assert error.code == "template_not_found"


@pytest.mark.parametrize("status", ["draft", "pending", "rejected"])
def test_whatsapp_template_used_before_approval_is_template_not_approved(tenant, status):
    TemplateFactory(client=tenant, name="promo", channel="whatsapp", status=status)
    error = error_of(lambda: templates_for_use(client=tenant, name="promo", channel="whatsapp"))
    assert error.code == "template_not_approved"
    assert status in error.message


def test_template_get_is_per_client(tenant):
    mine = TemplateFactory(client=tenant)
    theirs = TemplateFactory()
    assert template_get(client=tenant, template_id=str(mine.pk)) == mine
    assert template_get(client=tenant, template_id=theirs.pk) is None
    assert template_get(client=tenant, template_id="nope") is None
