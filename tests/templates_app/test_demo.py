"""seed_demo_templates: SMS in eng/fra with variables, one approved and one pending WhatsApp; idempotent."""

from __future__ import annotations

import pytest

from templates_app.demo import seed_demo_templates
from templates_app.models import Template
from templates_app.selectors import templates_for_use

pytestmark = pytest.mark.django_db


def test_seed_demo_templates_is_idempotent(tenant):
    first = seed_demo_templates(client=tenant)
    second = seed_demo_templates(client=tenant)
    assert [t.pk for t in first] == [t.pk for t in second]
    assert Template.objects.filter(client=tenant).count() == len(first) == 6
    rows = set(Template.objects.filter(client=tenant).values_list("channel", "language", "status"))
    assert rows == {
        ("sms", "eng", "approved"),
        ("sms", "fra", "approved"),
        ("whatsapp", "eng", "approved"),
        ("whatsapp", "eng", "pending"),
    }
    assert all(t.variables for t in first)


def test_demo_templates_are_usable_by_broadcasts(tenant):
    seed_demo_templates(client=tenant)
    assert set(templates_for_use(client=tenant, name="welcome", channel="sms")) == {"eng", "fra"}
    assert set(templates_for_use(client=tenant, name="appointment_reminder", channel="whatsapp")) == {"eng"}


def test_seed_leaves_an_edited_template_alone(tenant):
    seed_demo_templates(client=tenant)
    Template.objects.filter(client=tenant, name="welcome", language="eng").update(content="Edited")
    seed_demo_templates(client=tenant)
    assert Template.objects.get(client=tenant, name="welcome", language="eng").content == "Edited"
