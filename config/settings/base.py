"""Settings shared by every environment. Values come from config/env.py, nowhere else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
from celery.schedules import crontab
from kombu import Exchange, Queue

from accounts.net import normalize_networks
from config.env import BASE_DIR, VAR_DIR, broker_url, database_config, env, redis_url

# Lets admin/model classes be written with type parameters (ModelAdmin[Client]) at run time.
django_stubs_ext.monkeypatch()

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",  # the dashboard's htmx, served from the package (no CDN)
    "axes",  # locks out repeated failed logins (dashboard and admin)
    # Herald, in dependency order: each app may use the ones above it, never below.
    "accounts",
    "contacts",
    "templates_app",
    "wallets",
    "broadcasts",
    "tracking",
    "webhooks",
    "dashboard",
    "compat",
]

MIDDLEWARE = [
    "accounts.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Short links are answered here, before the session, CSRF and auth middleware (tracking/middleware.py).
    "tracking.middleware.ShortLinkMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accounts.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five failures for one username from one address lock that pair out for 15 minutes (docs/dashboard.md).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "dashboard/locked_out.html"
AXES_VERBOSE = False

# Under /api/ a CSRF refusal answers the JSON error envelope like every other API error.
CSRF_FAILURE_VIEW = "accounts.api.errors.csrf_failure"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# --- Request size -------------------------------------------------------------------------------
# SPEC §4: a request body over 5 MB answers 413. Contact imports are files of up to 1,000,000 rows,
# so that one endpoint takes up to IMPORT_MAX_UPLOAD_BYTES (docs/api.md explains the choice).
MAX_REQUEST_BODY_BYTES = 5 * 1024 * 1024
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
LARGE_BODY_PATHS = {"/api/v1/contact-imports/": IMPORT_MAX_UPLOAD_BYTES}
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20_000
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Redis, cache and Celery --------------------------------------------------------------------
REDIS_URL = redis_url()
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="herald")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = broker_url(REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # No broker server at all: kombu passes messages as files under var/celery/ (make run only).
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _control_dir = VAR_DIR / "celery" / "control"  # kombu's default is ./control, in the checkout
    for _d in (_queue_dir, _processed_dir, _control_dir):
        _d.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(_control_dir),
        "processed_folder": str(_processed_dir),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith("redis"):
    # Longer than the longest task, so an unacknowledged task is not redelivered while it runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_ALWAYS_EAGER = False
# Every queue Herald routes to, declared, so that a plain `celery -A config worker` (no -Q) consumes
# them all; dedicated workers (`-Q celery`, `-Q webhooks`) are an option for scale. Each is bound as
# Celery binds a queue it creates on the fly (its own direct exchange, the routing key its name), so
# messages already in a broker keep their way. /healthz reports a queue nothing consumes.
CELERY_TASK_DEFAULT_QUEUE = "celery"
# SMPP_QUEUE (opt-in): dispatch of broadcasts that send through an smpp connector goes to an `smpp`
# queue (broadcasts/smpp/routing.py), so a worker `-Q smpp --concurrency 1` holds each connector's
# binds once per node instead of once per prefork child (docs/providers/smpp.md, "Process model").
SMPP_QUEUE = env.bool("SMPP_QUEUE", default=False)
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name), routing_key=name) for name in ("celery", "webhooks", *(["smpp"] if SMPP_QUEUE else []))
)
# Webhook deliveries wait on integrators' servers (10 s each at worst): they have a queue of their
# own, so a slow receiver never holds up dispatch, reports or imports when the queue has its worker.
CELERY_TASK_ROUTES = {"webhooks.tasks.*": {"queue": "webhooks"}}
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# /healthz: a queue whose heartbeat has not run for this long (while beat is alive), or a due message
# or webhook delivery that has waited this long, is a problem (SPEC §2). Each backlog is read by a
# selector of the app that owns it, named here so that accounts (where /healthz lives) imports none.
HEALTH_MAX_AGE = env.int("HEALTH_MAX_AGE", default=60)
# A declared queue judged only while its callable says it needs a consumer: `smpp` while an active
# smpp connector exists (without one nothing is routed there, and no smpp worker need run).
HEALTH_QUEUES_NEEDED_WHEN = {"smpp": "broadcasts.smpp.routing.consumer_needed"}
HEALTH_BACKLOGS = {
    "oldest_due_message": "broadcasts.selectors.message_oldest_due_at",
    "oldest_undelivered_webhook": "webhooks.selectors.delivery_oldest_due_at",
}
# A heartbeat per queue, routed to it: a worker consuming the queue records it (accounts.tasks). It
# expires unrun after HEALTH_MAX_AGE, so a queue without a consumer does not pile up old ones.
HEARTBEAT_EVERY = max(1, min(15, HEALTH_MAX_AGE // 4))
# /metrics (SPEC §2, accounts/metrics.py): open to these CIDRs (the client address read as the API
# reads it, X-Forwarded-For believed only from TRUSTED_PROXIES), or to `Authorization: Bearer
# METRICS_TOKEN`. The gauges read at scrape time come from each app's own selector, named here.
METRICS_ALLOW: list[str] = normalize_networks(env.list("METRICS_ALLOW", default=["127.0.0.0/8", "::1/128"]))
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_FACTS = {
    "accounts": "accounts.selectors.metrics_facts",
    "broker": "accounts.selectors.metrics_broker_facts",
    "broadcasts": "broadcasts.selectors.metrics_facts",
    "webhooks": "webhooks.selectors.metrics_facts",
}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # The default queue's entry keeps the name "heartbeat" that databases of earlier versions hold.
    ("heartbeat" if queue.name == CELERY_TASK_DEFAULT_QUEUE else f"heartbeat-{queue.name}"): {
        "task": "accounts.tasks.heartbeat",
        "schedule": timedelta(seconds=HEARTBEAT_EVERY),
        "args": (queue.name,),
        "options": {"queue": queue.name, "expire_seconds": HEALTH_MAX_AGE},
    }
    for queue in CELERY_TASK_QUEUES
} | {
    # Starts scheduled broadcasts (within 10 s of scheduled_at) and restarts dead dispatchers.
    "broadcasts-tick": {"task": "broadcasts.tasks.tick", "schedule": timedelta(seconds=10)},
    # Recurring series: creates each due occurrence's broadcast, once (broadcasts/services/recurring_runs.py).
    "broadcasts-series": {"task": "broadcasts.tasks.fire_series", "schedule": timedelta(seconds=10)},
    # Decides A/B tests whose decide_after has passed: the winner goes to the rest (SPEC §8).
    "broadcasts-ab-tests": {"task": "broadcasts.tasks.decide_ab_tests", "schedule": timedelta(seconds=10)},
    # Link tracking: counts new clicks into their links; a message's first click by a person marks
    # it clicked and emits message.clicked (broadcasts/clicks.py).
    "tracking-clicks": {"task": "broadcasts.tasks.process_clicks", "schedule": timedelta(seconds=2)},
    # Webhooks: retries that come due and attempts a dead worker left behind (webhooks.tasks.tick).
    "webhooks-tick": {"task": "webhooks.tasks.tick", "schedule": timedelta(seconds=5)},
    "purge-idempotency-records": {
        "task": "accounts.tasks.purge_expired_idempotency_records",
        "schedule": crontab(minute=17),
    },
}

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.ApiKeyAuthentication",
        "accounts.api.authentication.ClientSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.api.permissions.HeraldPermission"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api.throttles.ClientRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "accounts.api.pagination.HeraldCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["accounts.api.filters.HeraldFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "accounts.api.inputs.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "accounts.api.schema.HeraldAutoSchema",
    "EXCEPTION_HANDLER": "accounts.api.errors.herald_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Herald API",
    "DESCRIPTION": (
        "Bulk messaging broadcasts over SMS, WhatsApp, Telegram and RCS. "
        "Authenticate with `Authorization: Bearer <api key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ErrorTypeEnum": "accounts.api.schema.ERROR_TYPES",
        "BroadcastStatusEnum": "broadcasts.models.Broadcast.Status",
        # The create's and the follow-up's `status: draft` (one choice set in two bodies).
        "BroadcastCreateStatusEnum": ["draft"],
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Herald -------------------------------------------------------------------------------------
# Where providers reach Herald's hooks (/hooks/<connector id>/status/ and /inbound/); Twilio signs it.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000").rstrip("/")
TRACKING_BASE_URL = env.str("TRACKING_BASE_URL", default=PUBLIC_BASE_URL).rstrip("/")
# The click's statement is prepared server-side on each connection (tracking/clicks.py). Set it to 0
# behind a transaction-mode connection pooler that cannot keep prepared statements (PgBouncer < 1.21).
TRACKING_PREPARED_STATEMENTS = env.bool("TRACKING_PREPARED_STATEMENTS", default=True)
TRUSTED_PROXIES: list[str] = env.list("TRUSTED_PROXIES", default=[])
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")
BROADCAST_BATCH_SIZE = env.int("BROADCAST_BATCH_SIZE", default=500)
# Dispatchers per large broadcast (lane 0 and its helpers): one process's CPU bounds one dispatcher.
BROADCAST_DISPATCH_LANES = env.int("BROADCAST_DISPATCH_LANES", default=2)
# Above this many recipients a create answers at once and prepares its messages in the background.
BROADCAST_SYNC_LIMIT = env.int("BROADCAST_SYNC_LIMIT", default=10_000)
# A burst of due recurring series: beat's firing run enqueues up to this many helper runs beside it
# (one per 250 due series; docs/broadcasts.md, "Bursts"). 0: beat's run alone.
SERIES_FIRE_HELPERS = env.int("SERIES_FIRE_HELPERS", default=3)
BROADCAST_BATCH_DELAY = env.float("BROADCAST_BATCH_DELAY", default=0.0)
BROADCAST_MAX_RETRIES = env.int("BROADCAST_MAX_RETRIES", default=3)
# One provider request's total deadline, connect + write + read (SPEC §10). A dispatcher's leases
# last at least four of these and are renewed while it works (broadcasts/leases.py).
PROVIDER_TIMEOUT = env.float("PROVIDER_TIMEOUT", default=15.0)
SEND_RATE_LIMIT = env.str("SEND_RATE_LIMIT", default="10/15m")
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="3600/h")
# Broadcast creates through the compatibility APIs (SPEC §14): their users send many small ones.
COMPAT_SEND_RATE_LIMIT = env.str("COMPAT_SEND_RATE_LIMIT", default="3600/h")
IDEMPOTENCY_TTL = timedelta(hours=24)
# An in-flight idempotency record older than this belongs to a request whose process died.
IDEMPOTENCY_LOCK_TIMEOUT = timedelta(minutes=5)
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)

# Webhooks (SPEC §11). With DEBUG off, endpoints on loopback/private/link-local addresses are refused
# unless this is on (a private network's own receivers).
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=False)
WEBHOOKS_BATCH_SIZE = env.int("WEBHOOKS_BATCH_SIZE", default=500)  # attempts claimed per task
WEBHOOKS_MAX_IN_FLIGHT = env.int("WEBHOOKS_MAX_IN_FLIGHT", default=64)  # requests at once per worker process

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="console")
# structlog owns logging; each environment module calls configure_logging() last.
LOGGING_CONFIG = None
