"""Demo templates for seed_demo (dashboard/). Idempotent: existing templates are left as they are."""

from __future__ import annotations

from accounts.channels import Channel
from accounts.models import Client

from .models import Template
from .services import template_approve, template_create, template_submit

# (name, channel, language, category, content, target status)
DEMO_TEMPLATES: tuple[tuple[str, str, str, str, str, str], ...] = (
    (
        "welcome",
        Channel.SMS,
        "eng",
        Template.Category.MARKETING,
        "Hi {{first_name|there}}, welcome to {{shop|our shop}}! Reply STOP to opt out.",
        Template.Status.APPROVED,
    ),
    (
        "welcome",
        Channel.SMS,
        "fra",
        Template.Category.MARKETING,
        "Bonjour {{first_name|à vous}}, bienvenue chez {{shop|nous}} ! STOP au 36179 pour ne plus recevoir.",
        Template.Status.APPROVED,
    ),
    (
        "order_ready",
        Channel.SMS,
        "eng",
        Template.Category.UTILITY,
        "Hello {{name}}, your order {{order_id}} is ready for pickup at {{branch|the counter}}.",
        Template.Status.APPROVED,
    ),
    (
        "order_ready",
        Channel.SMS,
        "fra",
        Template.Category.UTILITY,
        "Bonjour {{name}}, votre commande {{order_id}} est prête au retrait : {{branch|le comptoir}}.",
        Template.Status.APPROVED,
    ),
    (
        "appointment_reminder",
        Channel.WHATSAPP,
        "eng",
        Template.Category.UTILITY,
        "Hello {{first_name}}, this is a reminder of your appointment on {{date}} at {{time}}.",
        Template.Status.APPROVED,
    ),
    (
        "seasonal_offer",
        Channel.WHATSAPP,
        "eng",
        Template.Category.MARKETING,
        "Hi {{first_name|there}}! Enjoy {{discount}} off this season with code {{code}}.",
        Template.Status.PENDING,
    ),
)


def seed_demo_templates(*, client: Client) -> list[Template]:
    """Create the demo templates this client lacks (by channel, name and language); return all of them."""
    templates = []
    for name, channel, language, category, content, target in DEMO_TEMPLATES:
        template = Template.objects.filter(client=client, channel=channel, name=name, language=language).first()
        if template is None:
            template = template_create(
                client=client, name=name, channel=channel, language=language, category=category, content=content
            )
            if template.status == Template.Status.DRAFT and target != Template.Status.DRAFT:
                template = template_submit(template=template)
                if target == Template.Status.APPROVED:
                    template = template_approve(template=template, reviewer=None)
        templates.append(template)
    return templates
