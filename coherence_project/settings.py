"""Settings: everything from the environment, with embedded defaults that run on one machine.

Embedded default: SQLite under var/, django-q2 on its ORM broker, the local video model.
Production: DATABASE_URL (PostgreSQL), REDIS_URL (django-q2 on Redis), hosted models on Replicate.
"""

from __future__ import annotations

from pathlib import Path

import environ

from coherence_project import conf

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("COHERENCE_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The embedded key is only for DEBUG on a developer machine: it signs sessions, password resets
# and django-q2's pickled tasks, so with DEBUG off a missing or built-in key refuses to start.
DEVELOPMENT_SECRET_KEY = "coherence-insecure-development-key-change-me"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY in ("", DEVELOPMENT_SECRET_KEY):
    raise SystemExit("Refusing to start with DEBUG off: set DJANGO_SECRET_KEY to your own secret.")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS behind a proxy (docs/operations.md lists the production values) ---------------------
# "HTTP_X_FORWARDED_PROTO,https": trust the proxy's header saying the request came over HTTPS.
# Only set it when the proxy overwrites that header: otherwise a client could forge it.
_proxy_ssl_header = env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if len(_proxy_ssl_header) == 2 else None
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Health checks come from the load balancer over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^api/health/$"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "generations",
]

MIDDLEWARE = [
    "coherence_project.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "coherence_project.urls"
WSGI_APPLICATION = "coherence_project.wsgi.application"
ASGI_APPLICATION = "coherence_project.asgi.application"

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
            ],
        },
    },
]

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            # WAL + a busy timeout let the web process and qcluster workers share the file;
            # synchronous=NORMAL is WAL's safe setting (no fsync per commit, never corrupt), and
            # IMMEDIATE transactions take the write lock up front, so two workers that read then
            # write (the seed draw) queue up instead of failing with "database is locked".
            "OPTIONS": {
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
# Connections outlive a task (django-q2 closes "old" ones before each): a fresh SQLite connection
# and its PRAGMAs cost every task a reconnect; health checks replace one the database dropped.
DATABASES["default"].update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# WhiteNoise serves the apps' static files (the admin's CSS and JS, the API docs' bundles) from
# where they are installed, found by the staticfiles finders at start-up: the admin is styled with
# DEBUG off whether or not collectstatic ever ran, and never serves a stale copy after an upgrade.
WHITENOISE_USE_FINDERS = True
# No collected copy is needed, so there is none by default (WhiteNoise warns about a STATIC_ROOT
# that does not exist). Set it only to hand collected files to a proxy or CDN (collectstatic).
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default="") or None
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# A JSON create may carry one start image of up to 10 MB as a base64 data URI (13.4 MB encoded);
# plans with more images send them as multipart files, which this limit does not count.
DATA_UPLOAD_MAX_MEMORY_SIZE = 15 * 1024 * 1024

LOGIN_URL = "/admin/login/"

# --- Coherence -------------------------------------------------------------------------------
# Defaults and meanings live in coherence_project/conf.py; this holds what the environment sets.
COHERENCE = conf.from_environment(env)

REPLICATE_API_TOKEN = env.str("REPLICATE_API_TOKEN", default="")
REPLICATE_BASE_URL = env.str("REPLICATE_BASE_URL", default="https://api.replicate.com")
REPLICATE_WEBHOOK_SECRET = env.str("REPLICATE_WEBHOOK_SECRET", default="")

# Media (clips, last frames, latents, videos) go through Django's storage API only. Embedded
# default: the local filesystem under MEDIA_ROOT. With AWS_STORAGE_BUCKET_NAME set: any
# S3-compatible bucket (AWS, MinIO, Ceph, R2...) through django-storages, objects private, read
# through short-lived signed URLs handed out after the owner check.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": AWS_STORAGE_BUCKET_NAME,
                "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
                "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
                "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
                "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
                "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="") or None,
                "signature_version": "s3v4",
                "default_acl": None,  # the bucket's (private) policy, never public-read
                "querystring_auth": True,
                "querystring_expire": conf.configured(COHERENCE, "SIGNED_URL_SECONDS"),
                # A second completer never overwrites what the first stored (names get a suffix).
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

# --- django-q2 ---------------------------------------------------------------------------------
# timeout < retry, or the ORM broker hands a running task out again (see docs/operations.md).
# Diffusers scenes may render on a cluster of their own (COHERENCE_GPU_CLUSTER, one worker per
# GPU): its qcluster runs with Q_CLUSTER_NAME set to that name, which django-q2 reads itself and
# serves as one of ALT_CLUSTERS, while Q_CLUSTER["name"] stays the default cluster's (the one the
# GPU workers send stitching and scoring back to). Without a GPU cluster, Q_CLUSTER_NAME names
# the one cluster, as it always did.
GPU_CLUSTER_NAME = env.str("COHERENCE_GPU_CLUSTER", default="")
_SERVED_CLUSTER = env.str("Q_CLUSTER_NAME", default="")
DEFAULT_CLUSTER_NAME = env.str("Q_DEFAULT_CLUSTER_NAME", default="") or (
    _SERVED_CLUSTER if _SERVED_CLUSTER and _SERVED_CLUSTER != GPU_CLUSTER_NAME else "coherence"
)
Q_CLUSTER: dict = {
    "name": DEFAULT_CLUSTER_NAME,
    "ALT_CLUSTERS": (
        {GPU_CLUSTER_NAME: {"workers": env.int("Q_GPU_WORKERS", default=1)}}
        if GPU_CLUSTER_NAME
        else {}
    ),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=300),
    "retry": env.int("Q_RETRY", default=360),
    "max_attempts": 3,
    "save_limit": 500,
    "catch_up": False,
    "poll": env.float("Q_POLL", default=0.2),
    "label": "Task queue",
    # django-q2 logs every enqueue at INFO; operators who want that set Q_LOG_LEVEL=INFO.
    "log_level": env.str("Q_LOG_LEVEL", default="WARNING"),
}
if env.str("REDIS_URL", default=""):
    Q_CLUSTER["redis"] = env.str("REDIS_URL")
else:
    Q_CLUSTER["orm"] = "default"

# --- cache ---------------------------------------------------------------------------------------
# Throttle counts must be shared by every server process (a per-process LocMemCache lets N
# processes accept N times the rate): Redis when there is one, else a table in the database,
# created by `migrate` (generations migration 0003).
if env.str("REDIS_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.str("REDIS_URL"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "coherence_cache",
        }
    }

# --- DRF ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "generations.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["generations.api.parsers.BoundedJSONParser"],
    "DEFAULT_THROTTLE_RATES": {"generation_create": conf.configured(COHERENCE, "CREATE_RATE")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Coherence API",
    "DESCRIPTION": "Multi-scene video generation with seed control and latent reuse.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # A boundary's planned kind and its seen verdict share one vocabulary: one schema enum.
    "ENUM_NAME_OVERRIDES": {"BoundaryVerdictEnum": ["continuous", "cut"]},
    # Swagger UI and Redoc from drf-spectacular-sidecar's bundled files: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "coherence": {"handlers": ["console"], "level": conf.configured(COHERENCE, "LOG_LEVEL")},
        "django_q": {"handlers": ["console"], "level": env.str("Q_LOG_LEVEL", default="WARNING")},
    },
}
