"""Per-generation render settings (``Generation.render_settings``; the API's published name is
``coherence_settings``, kept in request bodies, responses, error keys and embedded recipes):
defaults, merging a partial dict, and strict validation.

Unknown keys are an error (a typo such as ``seed_contol`` must not silently fall back to a default).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

SEED_MODES = ("shared", "offset")

DEFAULTS: dict[str, Any] = {
    # One seed for the whole generation, sent to every scene's model call.
    "seed_control": True,
    # Continuous scenes start from the previous scene's final latent / last frame.
    "latent_reuse": True,
    # "shared": every scene gets the same seed; "offset": seed + scene index (ComfyUI's increment).
    "seed_mode": "shared",
    # Transfer scene 1's colour statistics onto later scenes before stitching.
    "color_match": False,
}

_TYPES: dict[str, type] = {
    "seed_control": bool,
    "latent_reuse": bool,
    "seed_mode": str,
    "color_match": bool,
}


def merge_render_settings(partial: Any) -> dict[str, Any]:
    """Return the defaults with ``partial`` laid over them.

    Raises ValidationError naming each bad key.
    """
    if partial is None:
        return dict(DEFAULTS)
    if not isinstance(partial, dict):
        raise ValidationError(
            {"coherence_settings": 'Must be an object of settings, e.g. {"seed_control": true}.'}
        )
    errors: dict[str, str] = {}
    for key, value in partial.items():
        if key not in DEFAULTS:
            errors[key] = f"Unknown setting {key!r}; allowed: {', '.join(DEFAULTS)}."
            continue
        expected = _TYPES[key]
        # bool is a subclass of int and vice versa checks must be exact here.
        if type(value) is not expected:
            errors[key] = f"{key!r} must be a {expected.__name__}, got {type(value).__name__}."
            continue
        if key == "seed_mode" and value not in SEED_MODES:
            errors[key] = f"'seed_mode' must be one of {', '.join(SEED_MODES)}."
    if errors:
        raise ValidationError({f"coherence_settings.{k}": v for k, v in errors.items()})
    return {**DEFAULTS, **partial}
