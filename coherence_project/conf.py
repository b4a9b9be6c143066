"""Coherence's own settings, in one place, in the style of DRF's ``api_settings``.

Every setting has its default here and nowhere else. ``settings.COHERENCE`` (a dict) overrides
them; ``coherence_project/settings.py`` fills that dict from ``COHERENCE_<NAME>`` environment
variables through django-environ, so operators configure the service from the environment only.
Code reads ``config.<NAME>``; tests override with ``settings.COHERENCE = {...}`` (pytest-django's
``settings`` fixture), which this object notices through Django's ``setting_changed`` signal.

This module imports nothing from ``generations`` or ``pipeline``: both layers may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed


@dataclass(frozen=True)
class Setting:
    default: Any
    help: str
    cast: type | None = None  # the environment's type; the default's type when None

    @property
    def type(self) -> type:
        return self.cast or type(self.default)


SETTINGS: dict[str, Setting] = {
    "PROVIDER": Setting(
        "local", "Provider used when a request names none: local | replicate | diffusers."
    ),
    "DEFAULT_MODEL": Setting("", "Model used when a request names none (empty: the provider's)."),
    "PUBLIC_URL": Setting(
        "", "Public base URL that hosted providers send webhooks to (empty: polling instead)."
    ),
    "VIDEO_WIDTH": Setting(512, "House format width every clip is normalised to."),
    "VIDEO_HEIGHT": Setting(288, "House format height."),
    "VIDEO_FPS": Setting(24, "House format frame rate."),
    "MAX_SCENES": Setting(12, "Most scenes in one plan."),
    "MIN_SCENE_SECONDS": Setting(0.5, "Shortest scene, seconds."),
    "MAX_SCENE_SECONDS": Setting(30.0, "Longest scene, seconds."),
    "SCENE_MAX_ATTEMPTS": Setting(3, "Submissions of one scene before it fails."),
    "PROVIDER_MAX_RETRIES": Setting(5, "Retries of one provider call (429, 5xx, network)."),
    "PROVIDER_BACKOFF_SECONDS": Setting(0.5, "First back-off between provider retries."),
    "STALE_AFTER_SECONDS": Setting(
        None,
        "Claimed work older than this counts as lost and is taken up again by the reconciler "
        "(empty: Q_TIMEOUT + 60, so a slow but live task is never taken for dead).",
        cast=int,
    ),
    "POLL_INTERVAL": Setting(2.0, "Seconds between two looks at a hosted prediction."),
    "POLL_MAX_INTERVAL": Setting(
        30.0, "Longest wait between two looks at a long prediction (the back-off's ceiling)."
    ),
    "POLL_BATCH": Setting(200, "Most predictions one poller pass looks at."),
    "POLL_CONCURRENCY": Setting(8, "GETs one poller pass has in flight at once."),
    "LEASE_SECONDS": Setting(
        20, "A claim not renewed by its worker's heartbeat for this long counts as lost."
    ),
    "RECONCILE_INTERVAL": Setting(
        15.0, "Seconds between two reconciles run by the ticker (the schedule adds one a minute)."
    ),
    "MAX_OUTPUT_BYTES": Setting(
        2_000_000_000, "Largest hosted output downloaded; a bigger one fails the scene."
    ),
    "LOCAL_SCRATCH_DIR": Setting(
        "", "The local model's scratch space (empty: COHERENCE_VAR_DIR/local-predictions)."
    ),
    "SIGNED_URL_SECONDS": Setting(300, "Life of a signed media URL on object storage."),
    "LOCAL_LATENCY": Setting(0.0, "Simulated model seconds per scene on the local model."),
    "EXTRA_MODELS": Setting(
        {},
        'Extra hosted models, JSON: {"owner/name": {ModelSpec fields}}; a community model may be '
        'pinned as "owner/name:<64-hex version id>".',
    ),
    "MAX_COST_USD": Setting(
        5.0, "Largest estimated cost of one generation, USD; larger plans are refused (400)."
    ),
    "MAX_PLAN_SECONDS": Setting(120.0, "Most seconds of video in one plan (all scenes)."),
    "MAX_ACTIVE_PER_USER": Setting(
        5, "Most unfinished (queued, running, stitching) generations one user may own at once."
    ),
    "MEDIA_SENDFILE": Setting(
        "",
        "How a checked media file is handed out: empty (Django streams it), 'x-accel-redirect' "
        "(nginx) or 'x-sendfile' (Apache, lighttpd).",
    ),
    "MEDIA_SENDFILE_PREFIX": Setting(
        "/protected-media/",
        "Internal URL (X-Accel-Redirect) or directory (X-Sendfile) that maps to MEDIA_ROOT.",
    ),
    "KEEP_LOCAL_SCRATCH": Setting(
        False,
        "Keep the local model's prediction scratch after its scene completes (benchmarks read "
        "predict times from it). It holds prompts: never in production.",
    ),
    "RETENTION_DAYS": Setting(
        None,
        "Days after which cleanup_media deletes a finished generation's files (empty: never).",
        cast=int,
    ),
    "CREATE_RATE": Setting("60/min", "API create throttle per user (DRF rate)."),
    "LOG_LEVEL": Setting("INFO", "Level of the 'coherence' loggers."),
    "DIFFUSERS_DEVICE": Setting(
        "auto", "Where diffusers pipelines run: auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps."
    ),
    "DIFFUSERS_DTYPE": Setting(
        "auto",
        "Their dtype: auto (bfloat16 on CUDA, float32 elsewhere), float16, bfloat16, float32.",
    ),
    "DIFFUSERS_STEPS": Setting(
        None, "Denoising steps per scene (empty: the family's default, 50).", cast=int
    ),
    "DIFFUSERS_GUIDANCE": Setting(
        None, "Guidance scale (empty: the family's default: LTX 3.0, Wan 5.0).", cast=float
    ),
    "DIFFUSERS_CPU_OFFLOAD": Setting(
        False, "Keep idle pipeline modules in CPU memory (less VRAM, slower; CUDA only)."
    ),
    "DIFFUSERS_VAE_TILING": Setting(False, "Decode the VAE in tiles (less VRAM at large sizes)."),
    "GPU_CLUSTER": Setting(
        "",
        "django-q2 cluster that renders diffusers scenes (one worker per GPU); empty: the "
        "default cluster. Its qcluster runs with Q_CLUSTER_NAME set to this name.",
    ),
    "WEBHOOK_ALLOW_PRIVATE": Setting(
        False,
        "Consumer webhooks (generations.webhooks_out) may go to private and loopback addresses "
        "and plain http: tests and closed networks only. Link-local and cloud metadata "
        "addresses stay refused.",
    ),
    "WEBHOOK_TIMEOUT": Setting(
        10.0, "Seconds a consumer webhook delivery may take to connect and to answer each read."
    ),
    "WEBHOOK_RETRY_SECONDS": Setting(
        5.0, "First wait before a failed consumer webhook delivery is tried again (doubling)."
    ),
    "WEBHOOK_GIVE_UP_SECONDS": Setting(
        86_400.0,
        "A consumer webhook event still undelivered this long after it happened is given up.",
    ),
    "PREVIEW_SCALE": Setting(
        0.5,
        "Previews render the house format scaled by this (short side at least 64 px; a hosted "
        "model is asked for its lowest resolution).",
    ),
}


def from_environment(env: Any) -> dict[str, Any]:
    """The ``COHERENCE_<NAME>`` variables that are set, cast to their setting's type.

    ``env`` is a django-environ ``Env``; unset variables are left out so the default above holds.
    """
    readers = {bool: env.bool, int: env.int, float: env.float, dict: env.json, str: env.str}
    return {
        name: readers[setting.type](f"COHERENCE_{name}")
        for name, setting in SETTINGS.items()
        if f"COHERENCE_{name}" in env.ENVIRON
    }


def configured(overrides: dict[str, Any], name: str) -> Any:
    """``name``'s value under ``overrides`` (a ``COHERENCE`` dict), else its default."""
    return overrides.get(name, SETTINGS[name].default)


class CoherenceSettings:
    """Attribute access to the settings above: ``config.MAX_SCENES``."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in SETTINGS:
            raise AttributeError(f"No Coherence setting {name!r}")
        if name not in self._cache:
            self._cache[name] = self._resolve(name)
        return self._cache[name]

    def _resolve(self, name: str) -> Any:
        value = configured(getattr(settings, "COHERENCE", {}), name)
        if name == "STALE_AFTER_SECONDS" and value is None:
            return settings.Q_CLUSTER.get("timeout", 300) + 60
        if name == "LOCAL_SCRATCH_DIR" and not value:
            return str(settings.VAR_DIR / "local-predictions")
        return value

    def reload(self) -> None:
        self._cache.clear()


config = CoherenceSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in {"COHERENCE", "Q_CLUSTER"}:
        config.reload()


setting_changed.connect(_reload)
