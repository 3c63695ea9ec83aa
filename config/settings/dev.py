"""Development (`make run`, manage.py by hand): DEBUG on, a fixed local secret, local hosts."""

from config.env import env
from config.logging import configure_logging

from .base import *  # noqa: F403
from .base import LOG_FORMAT, LOG_LEVEL, STATIC_ROOT

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-herald-development-only-key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
# Development serves static files from the apps directly; no collectstatic needed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# whitenoise warns about a missing STATIC_ROOT; collectstatic only runs for production images.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

configure_logging(level=LOG_LEVEL, fmt=LOG_FORMAT)
