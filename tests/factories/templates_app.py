from __future__ import annotations

from typing import Any

import factory
from factory.django import DjangoModelFactory

from accounts.channels import Channel
from templates_app.models import Template
from templates_app.services import template_approve, template_create, template_reject, template_submit
from tests.factories.accounts import ClientFactory


class TemplateFactory(DjangoModelFactory[Template]):
    """Built through the services, so derived fields and the initial status are real.

    `status=` walks the approval workflow to get there (WhatsApp only for pending/rejected/draft).
    """

    class Meta:
        model = Template

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"template_{n}")
    channel = Channel.SMS
    language = "eng"
    category = Template.Category.MARKETING
    content = "Hi {{first_name|there}}, your code is {{code}}."

    @classmethod
    def _create(cls, model_class: type[Template], *args: Any, **kwargs: Any) -> Template:
        status = kwargs.pop("status", None)
        reason = kwargs.pop("rejection_reason", "Not allowed by policy.")
        template = template_create(**kwargs)
        if status is None or status == template.status:
            return template
        if status in (Template.Status.PENDING, Template.Status.APPROVED, Template.Status.REJECTED):
            template = template_submit(template=template)
        if status == Template.Status.APPROVED:
            template = template_approve(template=template, reviewer=None)
        elif status == Template.Status.REJECTED:
            template = template_reject(template=template, reviewer=None, reason=reason)
        assert template.status == status, f"cannot reach {status} for a {template.channel} template"
        return template
