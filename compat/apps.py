from django.apps import AppConfig


class CompatConfig(AppConfig):
    """The seed systems' own APIs (SPEC §14): translation only, onto the same services."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "compat"
    verbose_name = "Compatibility APIs"
