from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        # Imports are enqueued by task name (imports/services.py): register the task in every
        # process that loads Django, so a signature finds it (and eager mode runs it inline).
        from . import tasks  # noqa: F401
