"""Settings: everything from the environment, with embedded defaults that run on one machine.

Embedded default: SQLite under var/, django-q2 on its ORM broker, the local video model.
Production: DATABASE_URL (PostgreSQL), REDIS_URL (django-q2 on Redis), hosted models on Replicate.
"""

from __future__ import annotations

from pathlib import Path

from coherence_project.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("COHERENCE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
# The embedded default is for a single developer machine; production must set its own key.
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "coherence-insecure-development-key-change-me")
ALLOWED_HOSTS = [
    h for h in env_str("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [o for o in env_str("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

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
    "django_q",
    "generations",
    "pipeline",
]

MIDDLEWARE = [
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

DATABASES = {
    "default": database_from_url(env_str("DATABASE_URL"), sqlite_default=VAR_DIR / "db.sqlite3")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Serve media from Django itself (fine on one machine; put a CDN/nginx in front in production).
COHERENCE_SERVE_MEDIA = env_bool("COHERENCE_SERVE_MEDIA", True)

LOGIN_URL = "/admin/login/"

# --- Coherence -------------------------------------------------------------------------------
COHERENCE_PROVIDER = env_str("COHERENCE_PROVIDER", "local")
COHERENCE_DEFAULT_MODEL = env_str("COHERENCE_DEFAULT_MODEL", "")  # "" = the provider's default
# Where hosted providers send webhooks; unset = the reconciler polls instead.
COHERENCE_PUBLIC_URL = env_str("COHERENCE_PUBLIC_URL") or None
# The "house format" every clip is normalised to on arrival, so stitching is a stream copy.
COHERENCE_VIDEO_WIDTH = env_int("COHERENCE_VIDEO_WIDTH", 512)
COHERENCE_VIDEO_HEIGHT = env_int("COHERENCE_VIDEO_HEIGHT", 288)
COHERENCE_VIDEO_FPS = env_int("COHERENCE_VIDEO_FPS", 24)
COHERENCE_MAX_SCENES = 50
COHERENCE_MIN_SCENE_SECONDS = 0.5
COHERENCE_MAX_SCENE_SECONDS = 30.0
COHERENCE_SCENE_MAX_ATTEMPTS = env_int("COHERENCE_SCENE_MAX_ATTEMPTS", 3)
COHERENCE_PROVIDER_MAX_RETRIES = env_int("COHERENCE_PROVIDER_MAX_RETRIES", 5)
COHERENCE_PROVIDER_BACKOFF_SECONDS = env_float("COHERENCE_PROVIDER_BACKOFF_SECONDS", 0.5)
# Claimed work older than this counts as lost (its worker died) and is picked up again by the
# reconciler. No task outlives Q_TIMEOUT (django-q2 kills it), so the default waits past that:
# a slow but live submission (429 back-off, a long local render) is never taken for dead.
COHERENCE_STALE_AFTER_SECONDS = env_int(
    "COHERENCE_STALE_AFTER_SECONDS", env_int("Q_TIMEOUT", 300) + 60
)
# Seconds between two looks at a hosted prediction when no webhook URL is configured.
COHERENCE_POLL_INTERVAL = env_float("COHERENCE_POLL_INTERVAL", 2.0)
# Simulated model seconds per scene on the local model (benchmarks and crash tests only).
COHERENCE_LOCAL_LATENCY = env_float("COHERENCE_LOCAL_LATENCY", 0.0)
# Extra hosted models without code: {"owner/name": {ModelSpec kwargs}}; JSON in the environment.
COHERENCE_EXTRA_MODELS: dict = {}
if env_str("COHERENCE_EXTRA_MODELS"):
    import json

    COHERENCE_EXTRA_MODELS = json.loads(env_str("COHERENCE_EXTRA_MODELS"))

REPLICATE_API_TOKEN = env_str("REPLICATE_API_TOKEN")
REPLICATE_BASE_URL = env_str("REPLICATE_BASE_URL", "https://api.replicate.com")
REPLICATE_WEBHOOK_SECRET = env_str("REPLICATE_WEBHOOK_SECRET")

# --- django-q2 ---------------------------------------------------------------------------------
# timeout < retry, or the ORM broker hands a running task out again (see docs/operations.md).
Q_CLUSTER: dict = {
    "name": env_str("Q_CLUSTER_NAME", "coherence"),
    "workers": env_int("Q_WORKERS", 2),
    "timeout": env_int("Q_TIMEOUT", 300),
    "retry": env_int("Q_RETRY", 360),
    "max_attempts": 3,
    "save_limit": 500,
    "catch_up": False,
    "poll": env_float("Q_POLL", 0.2),
    "label": "Task queue",
    # django-q2 logs every enqueue at INFO; operators who want that set Q_LOG_LEVEL=INFO.
    "log_level": env_str("Q_LOG_LEVEL", "WARNING"),
}
if env_str("REDIS_URL"):
    Q_CLUSTER["redis"] = env_str("REDIS_URL")
else:
    Q_CLUSTER["orm"] = "default"

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
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {"generation_create": env_str("COHERENCE_CREATE_RATE", "60/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Coherence API",
    "DESCRIPTION": "Multi-scene video generation with seed control and latent reuse.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # A coherence boundary's planned kind and its seen verdict share one choice set.
    "ENUM_NAME_OVERRIDES": {"BoundaryKindEnum": ["continuous", "cut"]},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "coherence": {"handlers": ["console"], "level": env_str("COHERENCE_LOG_LEVEL", "INFO")},
        "django_q": {"handlers": ["console"], "level": env_str("Q_LOG_LEVEL", "WARNING")},
    },
}
