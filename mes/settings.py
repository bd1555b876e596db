"""Lab MES settings: everything comes from the environment (and an optional ``.env``).

With no variables set, Lab MES runs on the *embedded default*: SQLite in ``var/``, a database cache
shared by all local processes and django-q2 on the ORM broker. ``.env.example`` documents every
variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from mes import config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
ENV_FILE = Path(env.str("MES_ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)

VAR_DIR = Path(env.str("MES_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Prometheus multi-process mode (docs/metrics.md): every process of this installation writes its
# samples here and /metrics adds them up. Set before anything imports prometheus_client.
PROMETHEUS_MULTIPROC_DIR = Path(env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "prometheus")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)

DEBUG = config.boolean(env, "DEBUG", default=True)
SECRET_KEY = config.secret_key(
    env.str("SECRET_KEY", default=""), debug=DEBUG, key_file=VAR_DIR / "secret_key"
)
ALLOWED_HOSTS = config.allowed_hosts(env.list("ALLOWED_HOSTS", default=[]), debug=DEBUG)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: its runserver (which refuses DEBUG on public addresses) replaces theirs.
    "mes.apps.MesConfig",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files: docs work offline
    "django_q",
    "events.apps.EventsConfig",
    "plugins.apps.PluginsConfig",
    "machines.apps.MachinesConfig",
    "drivers.apps.DriversConfig",
    "simulator.apps.SimulatorConfig",
    "materials.apps.MaterialsConfig",
    "policies.apps.PoliciesConfig",
    "maintenance.apps.MaintenanceConfig",
    "jobs.apps.JobsConfig",
    "federation.apps.FederationConfig",
    "opcua.apps.OpcuaConfig",
    "webhooks.apps.WebhooksConfig",
    "notifications.apps.NotificationsConfig",
    "metrics.apps.MetricsConfig",
    "axes",
    "csp",
]

MIDDLEWARE = [
    "mes.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "mes.live.LiveVersionMiddleware",  # live parts: 204 when the client shows the current version
]

# Content-Security-Policy (django-csp): scripts and styles only from our own static files, no inline
# code, no framing. The pages keep to it (tests/pages/test_csp.py); the third-party API docs views
# add what their bundles need (mes/api/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "mes.urls"
WSGI_APPLICATION = "mes.wsgi.application"
ASGI_APPLICATION = "mes.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mes.context_processors.site",
                "notifications.context_processors.unread_notifications",
            ],
        },
    },
]

DATABASES = {
    "default": config.database_config(
        env.str("DATABASE_URL", default=""), default_sqlite_path=VAR_DIR / "db.sqlite3"
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="") or None
CACHES = {"default": config.cache_config(REDIS_URL)}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed logins through Django's authentication, so every login form (the
# site's, the admin's) is covered: after AXES_FAILURE_LIMIT failures the username and the client
# address are each locked for AXES_COOLOFF_MINUTES; staff unlock by deleting the access attempt.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = config.whole_number(env, "AXES_FAILURE_LIMIT", default=5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=config.whole_number(env, "AXES_COOLOFF_MINUTES", default=15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "axes/lockout.html"
AXES_CLIENT_IP_CALLABLE = "mes.security.client_ip"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Optional single sign-on through the university's OpenID Connect provider (docs/login.md).
OIDC_ENABLED = config.boolean(env, "OIDC_ENABLED", default=False)
if OIDC_ENABLED:
    globals().update(config.oidc_settings(env))
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("mes.oidc.LabOIDCBackend")
    OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
    OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile")
    OIDC_OP_LOGOUT_URL = env.str("OIDC_OP_LOGOUT_URL", default="")
    OIDC_STAFF_GROUP = env.str("OIDC_STAFF_GROUP", default="")  # members of this group claim become staff
    OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
    OIDC_USERNAME_ALGO = "mes.oidc.username_for"
    LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
OIDC_LOGIN_LABEL = env.str("OIDC_LOGIN_LABEL", default="Log in with your university account")

# E-mail (password reset): EMAIL_URL such as smtp+tls://user:password@smtp.example.org:587; printed to
# the console by default while DEBUG is on (make run), so a reset link is visible without a mail server.
EMAIL_URL = env.str("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
globals().update({k: v for k, v in environ.Env.email_url_config(EMAIL_URL).items() if v not in (None, "")})
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="lab-mes@localhost")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request until collectstatic has run
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads are streamed to temporary files, never held whole in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Production (DEBUG=false) is https: cookies only over TLS, http redirected, HSTS for a year.
# Behind a TLS-terminating reverse proxy set TLS_PROXY=true, and make the proxy set
# X-Forwarded-Proto (and strip it from clients); docs/security.md has an nginx example.
if not DEBUG:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = config.boolean(env, "SECURE_COOKIES", default=True)
    SECURE_SSL_REDIRECT = config.boolean(env, "SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = config.whole_number(env, "SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = config.boolean(env, "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = config.boolean(env, "SECURE_HSTS_PRELOAD", default=False)
    # Load balancers and container health checks probe over plain http.
    SECURE_REDIRECT_EXEMPT = [r"^api/health/$", r"^metrics$"]
    if config.boolean(env, "TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
# Submitting to the HSTS preload list is the lab's decision (hard to undo), so not checked for.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mes.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "mes.api.permissions.TokenHasScope",
    ],
    # JSON only: multipart is for file uploads, which those views declare themselves.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": [
        "mes.api.query.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["mes.api.throttles.WriteRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "mes.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "mes.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "mes.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Writes (POST/PUT/PATCH/DELETE) per API token, or per user/address without one; empty: no limit.
API_WRITE_RATE = config.rate(env, "API_WRITE_RATE", default="300/minute")
SPECTACULAR_SETTINGS = {
    "TITLE": "Lab MES API",
    "DESCRIPTION": "Machines, print jobs and lab-to-lab federation for Lab MES.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Task engine: django-q2 on the ORM broker (embedded) or Celery on Redis (scale-out).
TASK_ENGINE = config.task_engine(env.str("TASK_ENGINE", default="django-q"), redis_url=REDIS_URL)
Q_CLUSTER = {
    "name": "labmes",
    "orm": "default",
    "workers": config.whole_number(env, "Q_WORKERS", default=2, minimum=1),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
    "label": "Task queue",
}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task whose worker host died (kill -9, power loss) is handed to another worker after this many
# seconds; Redis's default is an hour. Machine tasks are safe to run twice, so a long upload that
# outlasts it is harmless (the machine's I/O lock serializes the two).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": config.whole_number(env, "CELERY_VISIBILITY_TIMEOUT", default=600, minimum=1)
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# LOG_FORMAT=json: one JSON object per line with machine_id/job_id fields (docs/metrics.md#logs).
LOG_FORMAT = config.choice(env, "LOG_FORMAT", default="plain", choices=("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "mes.logformat.JsonFormatter"},
    },
    # Periodic housekeeping (sweeps every few seconds) logs at DEBUG: LOG_LEVEL=DEBUG shows it.
    "filters": {
        "periodic_chatter": {"()": "mes.logfilters.PeriodicTaskChatter"},
        "expected_refusals": {"()": "mes.logfilters.ExpectedRefusals"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["periodic_chatter", "expected_refusals"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes logs every login at INFO; lockouts are WARNING.
        "axes": {"level": "WARNING"},
        # django-q2 adds a handler of its own unless its logger has one: give it ours.
        "django-q": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}

# Built-in plugins: modules declaring ``MES_PLUGINS``, discovered like entry-point plugins but active by
# default. The plugin framework knows no plugin by name; this list is the project's choice.
MES_BUILTIN_PLUGINS = ["drivers"]
# The lab's name and logo on every page and the login (MES_LOGO_URL: an https URL or a static path).
MES_SITE_NAME = env.str("MES_SITE_NAME", default="Lab MES")
MES_LOGO_URL = env.str("MES_LOGO_URL", default="mes/logo.svg")
# Which part of Lab MES this process is; set by `manage.py up` and docker compose. Only "standalone"
# (a single process: tests, the shell) and "poller" processes talk to machines and run their hooks.
MES_PROCESS_ROLE = config.process_role(env.str("MES_PROCESS_ROLE", default="standalone"))

# OPC UA: publish the fleet to the lab's server (client mode) or serve it ourselves (server mode).
# docs/opcua.md describes the address space; both unset = no OPC UA.
OPCUA_SERVER_URL = env.str("OPCUA_SERVER_URL", default="")
OPCUA_SERVE = env.str("OPCUA_SERVE", default="")
OPCUA_USERNAME = env.str("OPCUA_USERNAME", default="")
OPCUA_PASSWORD = env.str("OPCUA_PASSWORD", default="")
OPCUA_SECURITY = env.str("OPCUA_SECURITY", default="None")
OPCUA_CERTIFICATE = env.str("OPCUA_CERTIFICATE", default="")
OPCUA_PRIVATE_KEY = env.str("OPCUA_PRIVATE_KEY", default="")
OPCUA_SERVER_CERTIFICATE = env.str("OPCUA_SERVER_CERTIFICATE", default="")
OPCUA_NAMESPACE_URI = env.str("OPCUA_NAMESPACE_URI", default="urn:labmes:opcua")
OPCUA_ALLOW_CONTROL = config.boolean(env, "OPCUA_ALLOW_CONTROL", default=False)
OPCUA_BACKOFF_INITIAL = config.positive_number(env, "OPCUA_BACKOFF_INITIAL", default=1.0)
OPCUA_BACKOFF_MAX = config.positive_number(env, "OPCUA_BACKOFF_MAX", default=60.0)
OPCUA_POLL_INTERVAL = config.positive_number(env, "OPCUA_POLL_INTERVAL", default=0.5)
OPCUA_TIMEOUT = config.positive_number(env, "OPCUA_TIMEOUT", default=4.0)

# Outgoing requests to URLs chosen by others (partner labs, webhooks) may reach only public addresses,
# plus these networks (comma-separated CIDRs, e.g. 10.20.0.0/16 for partners on the campus network).
OUTGOING_ALLOWED_NETWORKS = config.networks(env, "OUTGOING_ALLOWED_NETWORKS")

# Operator controls (machines.controls, docs/drivers.md): preheat presets, and G-code staff may not send
# by hand (firmware flashing, factory reset, settings stored to EEPROM, Klipper config writes/restarts).
MACHINES_PREHEAT_PRESETS = config.preheat_presets(
    env, "MACHINES_PREHEAT_PRESETS", default="PLA=215/60,PETG=240/80,ABS=250/100,ASA=255/100,TPU=225/50"
)
MACHINES_GCODE_DENIED = [
    word.upper()
    for word in env.list(
        "MACHINES_GCODE_DENIED",
        default=[
            "M997", "M502", "M500", "M501", "M504", "M510", "M511", "M512", "M575", "M30", "M28",
            "M29", "M350", "M906", "M913", "SAVE_CONFIG", "FIRMWARE_RESTART", "RESTART",
        ],
    )
]  # fmt: skip

# Jobs
JOBS_MAX_UPLOAD_BYTES = config.whole_number(
    env, "JOBS_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024, minimum=1
)
# A batch upload (up to 100 files) is also limited in total, so one request cannot fill the disk.
JOBS_MAX_BATCH_BYTES = config.whole_number(env, "JOBS_MAX_BATCH_BYTES", default=1024 * 1024 * 1024, minimum=1)
JOBS_REQUIRE_APPROVAL = config.boolean(env, "JOBS_REQUIRE_APPROVAL", default=False)
JOBS_FORBIDDEN_COMMANDS = env.list("JOBS_FORBIDDEN_COMMANDS", default=["M500", "M502", "M997"])
# At most this many machines heating at once (breakers trip when a farm heats together); 0 = no limit.
JOBS_MAX_HEATING = config.whole_number(env, "JOBS_MAX_HEATING", default=0)
# A job the printers refuse this many times fails instead of going back to the queue.
JOBS_DISPATCH_MAX_ATTEMPTS = config.whole_number(env, "JOBS_DISPATCH_MAX_ATTEMPTS", default=3, minimum=1)
# Finished jobs keep their row and history; their G-code file is deleted after this many days.
JOBS_FILE_RETENTION_DAYS = config.whole_number(env, "JOBS_FILE_RETENTION_DAYS", default=90, minimum=1)
# A checked upload waiting on the submit page for "Confirm" is deleted after this many hours.
JOBS_PREVIEW_HOURS = config.whole_number(env, "JOBS_PREVIEW_HOURS", default=24, minimum=1)

# Materials (see docs/materials.md). Tracking "auto": the scheduler checks spools once the lab has one.
MATERIALS_TRACKING = env.str("MATERIALS_TRACKING", default="auto").strip().lower()
if MATERIALS_TRACKING not in {"auto", "on", "off"}:
    raise ImproperlyConfigured(f"MATERIALS_TRACKING={MATERIALS_TRACKING!r} is not auto, on or off")
# A spool must hold the job's need plus this margin (percent of the need, then grams on top).
MATERIALS_SAFETY_MARGIN_PERCENT = config.whole_number(env, "MATERIALS_SAFETY_MARGIN_PERCENT", default=10)
MATERIALS_SAFETY_MARGIN_GRAMS = config.whole_number(env, "MATERIALS_SAFETY_MARGIN_GRAMS", default=5)
MATERIALS_CSV_MAX_BYTES = config.whole_number(env, "MATERIALS_CSV_MAX_BYTES", default=1024 * 1024, minimum=1)

# Lab policies (docs/policies.md): an attended-only machine starts no job whose estimated end falls
# later than this before closing time; the training CSV import's size limit; the scheduler's ordering.
POLICIES_CLOSING_MARGIN_MINUTES = config.whole_number(env, "POLICIES_CLOSING_MARGIN_MINUTES", default=30)
POLICIES_CSV_MAX_BYTES = config.whole_number(env, "POLICIES_CSV_MAX_BYTES", default=1024 * 1024, minimum=1)
# Its members hold every training (federation puts partner labs' accounts in it).
POLICIES_TRAINING_EXEMPT_GROUP = env.str("POLICIES_TRAINING_EXEMPT_GROUP", default="Partner labs")
JOBS_FAIR_SHARE_POLICY = env.str("JOBS_FAIR_SHARE_POLICY", default="jobs.fairshare.OwnerRoundRobin")

# Federation (lab-to-lab API, see docs/federation.md). Private signing keys are files with mode 0600 in
# FEDERATION_KEY_DIR, never in the database or the API; back the directory up with the database.
FEDERATION_KEY_DIR = Path(env.str("FEDERATION_KEY_DIR", default=str(VAR_DIR / "federation")))
FEDERATION_BASE_URL = env.str("FEDERATION_BASE_URL", default="").rstrip("/")
FEDERATION_DISCOVERABLE = config.boolean(env, "FEDERATION_DISCOVERABLE", default=False)
FEDERATION_MAX_SKEW = config.whole_number(env, "FEDERATION_MAX_SKEW", default=300, minimum=1)
FEDERATION_ALLOW_HTTP = config.boolean(env, "FEDERATION_ALLOW_HTTP", default=DEBUG)
FEDERATION_CONNECT_RATE = env.str("FEDERATION_CONNECT_RATE", default="20/hour")
FEDERATION_HTTP_TIMEOUT = config.positive_number(env, "FEDERATION_HTTP_TIMEOUT", default=10.0)
FEDERATION_EVENT_MAX_ATTEMPTS = config.whole_number(
    env, "FEDERATION_EVENT_MAX_ATTEMPTS", default=15, minimum=1
)

# Periodic tasks run at the interval their app declares (the beat's first log line lists them);
# PERIODIC_INTERVALS=jobs.reconcile-sweep=10,... changes some. An unknown name stops the processes.
PERIODIC_INTERVALS = config.periodic_intervals(env, "PERIODIC_INTERVALS")

# Webhooks (docs/webhooks.md): per-attempt timeout, retries with exponential backoff for this long.
WEBHOOKS_TIMEOUT = config.positive_number(env, "WEBHOOKS_TIMEOUT", default=5.0)
WEBHOOKS_RETRY_HOURS = config.positive_number(env, "WEBHOOKS_RETRY_HOURS", default=26.0)
WEBHOOKS_BACKOFF_BASE = config.positive_number(env, "WEBHOOKS_BACKOFF_BASE", default=30.0)
WEBHOOKS_BACKOFF_MAX = config.positive_number(env, "WEBHOOKS_BACKOFF_MAX", default=3600.0)
WEBHOOKS_CONCURRENCY = config.whole_number(env, "WEBHOOKS_CONCURRENCY", default=8, minimum=1)

# Notification e-mails use the EMAIL_URL above (docs/notifications.md). An e-mail a worker was killed
# while sending is marked "not sent" after this many seconds (never sent again: no duplicates).
NOTIFICATIONS_SENDING_STALE = config.positive_number(env, "NOTIFICATIONS_SENDING_STALE", default=600.0)
# The address people reach this installation at, for links in e-mails.
MES_SITE_URL = env.str("MES_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Switches for measuring their cost (docs/benchmarks.md): METRICS_ENABLED=false stops the pollers'
# timings, the metrics consumer and /metrics; EVENTS_ENABLED=false writes no domain events at all (so no
# notifications, webhooks or event totals). Both on in any real installation.
METRICS_ENABLED = config.boolean(env, "METRICS_ENABLED", default=True)
EVENTS_ENABLED = config.boolean(env, "EVENTS_ENABLED", default=True)
# /metrics (docs/metrics.md): a bearer token, and/or the client addresses allowed without one.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = config.networks(
    env, "METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"]
)
