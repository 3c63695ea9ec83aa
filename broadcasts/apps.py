from django.apps import AppConfig


class BroadcastsConfig(AppConfig):
    name = "broadcasts"
    verbose_name = "Broadcasts"

    def ready(self) -> None:
        # Work is enqueued by task name (queue.py); registering the tasks in every process that
        # loads Django lets a signature find its task (and CELERY_TASK_ALWAYS_EAGER run it inline).
        from . import tasks  # noqa: F401
