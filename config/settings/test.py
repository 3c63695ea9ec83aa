"""pytest: real PostgreSQL and Redis, fast password hashing, Celery tasks run inline."""

from config.env import env, instance_tag
from config.logging import configure_logging

from .base import *  # noqa: F403
from .base import DATABASES, LOG_LEVEL, STATIC_ROOT

DEBUG = False
SECRET_KEY = "herald-test-secret-key-not-for-production-use-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Two checkouts (or two agents) testing against one server must not share a test database or
# Redis keys: both names carry a tag of this checkout's path.
_TAG = env.str("HERALD_TEST_TAG", default=instance_tag())
DATABASES["default"]["TEST"] = {"NAME": f"test_herald_{_TAG}"}
REDIS_KEY_PREFIX = f"herald-test-{_TAG}"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Static files come from the apps, as in development: a fresh clone has run no collectstatic (the
# live layer collects its own for the production settings it runs).
WHITENOISE_USE_FINDERS = True

# whitenoise warns about a missing STATIC_ROOT; collectstatic only runs for production images.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

configure_logging(level=LOG_LEVEL, fmt="console")

# Tasks run inline here, so a helper lane would run inside its lane 0 instead of beside it: one
# dispatcher per broadcast. tests/broadcasts/test_dispatch_lanes.py drives lanes by hand, and the
# live layer (real workers, production settings) runs two.
BROADCAST_DISPATCH_LANES = 1
