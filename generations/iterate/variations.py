"""Seed variations: render the first scene (or the whole plan as previews) with N different
seeds, score each with the coherence score, rank them, and start the full generation with the
chosen seed, reusing the chosen render where it is exactly what the full generation would make.

The parent generation holds the full plan and waits (``awaiting_choice``) until one variation is
chosen; each variation is a generation of its own (created through ``create_generation``, so it
counts against the same caps) linked by ``variation_of``.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction

from generations.iterate.reuse import reuse_matching, settle_estimate
from generations.lifecycle.queue import enqueue_start_generation
from generations.media.storage import stored_bytes
from generations.models import Generation
from generations.services import limits as caps
from generations.services.create import create_generation
from generations.services.reproduce import plan_of
from generations.services.request import FIRST_SCENE, PLAN, GenerationRequest
from pipeline import media
from pipeline.seeds import generate_seed

MIN_VARIATIONS, MAX_VARIATIONS = 2, 8
SCOPES = (FIRST_SCENE, PLAN)


class VariationStateError(Exception):
    """Choosing is only possible once, on a parent that is awaiting its choice."""


class NoSuchVariation(LookupError):
    pass


def variation_errors(variations: Any, scope: Any) -> dict[str, str]:
    """What is wrong with a number of variations and a scope (empty: nothing)."""
    errors: dict[str, str] = {}
    if variations is None:
        errors["variations"] = f"Ask for {MIN_VARIATIONS} to {MAX_VARIATIONS} variations."
    elif isinstance(variations, bool) or not isinstance(variations, int):
        errors["variations"] = "The number of variations must be a whole number."
    elif not MIN_VARIATIONS <= variations <= MAX_VARIATIONS:
        errors["variations"] = f"Ask for {MIN_VARIATIONS} to {MAX_VARIATIONS} variations."
    if scope not in SCOPES:
        errors["variations_scope"] = f"The scope must be one of: {', '.join(SCOPES)}."
    return errors


def _check_request(variations: Any, scope: Any, seed: Any, settings: Any) -> None:
    errors = variation_errors(variations, scope)
    if seed is not None:
        errors["seed"] = "Variations draw their own seeds; leave the seed out."
    if isinstance(settings, dict) and settings.get("seed_control") is False:
        errors["coherence_settings.seed_control"] = "Variations differ by seed: keep it on."
    if errors:
        raise ValidationError(errors)


def distinct_seeds(count: int) -> list[int]:
    seeds: list[int] = []
    while len(seeds) < count:
        seed = generate_seed()
        if seed not in seeds:
            seeds.append(seed)
    return seeds


def create_with_variations(
    request: GenerationRequest, *, owner: Any = None, actor: Any = None, enqueue: bool = True
) -> Generation:
    """The parent (full plan, awaiting a choice) and its N variations, which start at once."""
    variations, variations_scope = request.variations, request.variations_scope
    _check_request(variations, variations_scope, request.seed, request.coherence_settings)
    with transaction.atomic():
        parent = create_generation(
            request.without_variations(), owner=owner, actor=actor, enqueue=False
        )
        Generation.objects.filter(pk=parent.pk).update(
            status=Generation.Status.AWAITING_CHOICE,
            stage=f"rendering {variations} variations",
            variation_scope=variations_scope,
        )
        plan = plan_of(parent)
        preview = variations_scope == PLAN or parent.quality == Generation.Quality.PREVIEW
        for number, variation_seed in enumerate(distinct_seeds(variations), start=1):
            variation = create_generation(
                GenerationRequest(
                    scenes=plan if variations_scope == PLAN else plan[:1],
                    title=f"{parent.title or 'untitled'} · variation {number}"[:200],
                    coherence_settings=parent.render_settings,
                    provider=parent.provider,
                    model=parent.model,
                    model_version=parent.model_version,
                    seed=variation_seed,
                    reference_image=stored_bytes(parent.reference_image),
                    quality=Generation.Quality.PREVIEW if preview else Generation.Quality.FULL,
                ),
                owner=parent.owner,
                enqueue=enqueue,
            )
            Generation.objects.filter(pk=variation.pk).update(
                variation_of=parent, variation_number=number
            )
    parent.refresh_from_db()
    return parent


def measured(report: dict[str, Any] | None, key: str) -> float:
    """The mean of a per-scene measurement of a stored coherence report (0 when absent):
    ``noise`` (frame-to-frame residual, 0-255 luma) or ``flicker`` (relative jitter)."""
    values = [scene.get(key) or 0.0 for scene in (report or {}).get("scenes", [])]
    return sum(values) / len(values) if values else 0.0


def noise_label(value: float) -> str:
    """Noise as shown to a person: 4 significant digits. A clean clip measures about 0.001-0.003,
    which two decimals print as 0.00 for every variation, hiding the tie-break that ranks them."""
    return f"{value:.4g}"


def ranking_key(variation: Generation) -> tuple[Any, ...]:
    """Best coherence score first; unscored (running, failed) last. Equal scores - a clean
    one-scene clip scores 1.0, its stability being inside the score's free band - go to the
    steadier clip: lower measured frame-to-frame noise, then flicker, from the same report."""
    report = variation.coherence_report
    return (
        variation.coherence_score is None,
        -(variation.coherence_score or 0.0),
        measured(report, "noise"),
        measured(report, "flicker"),
        variation.variation_number or 0,
    )


def ranked_variations(parent: Generation) -> list[Generation]:
    return sorted(parent.variations.all(), key=ranking_key)


def variation_cards(parent: Generation) -> list[dict[str, Any]]:
    """The ranked grid's cards (staff page, admin): rank, variation, whether it was chosen."""
    chosen = chosen_variation(parent)
    return [
        {
            "rank": rank,
            "variation": variation,
            "chosen": variation == chosen,
            "noise": noise_label(measured(variation.coherence_report, "noise")),
        }
        for rank, variation in enumerate(ranked_variations(parent), start=1)
    ]


def chosen_variation(parent: Generation) -> Generation | None:
    """The variation whose seed the parent took (None while it awaits its choice)."""
    if parent.status == Generation.Status.AWAITING_CHOICE or parent.seed is None:
        return None
    return parent.variations.filter(seed=parent.seed).first()


def choose_variation(
    *, parent: Generation, number: Any, enqueue: bool = True, actor: Any = None
) -> Generation:
    """Start the parent with variation ``number``'s seed, reusing its render where it matches.
    ``actor`` (default: the owner) needs the hosted-models permission for a hosted model."""
    caps.check_provider_allowed(
        actor=actor if actor is not None else parent.owner, provider=parent.provider
    )
    variation = (
        parent.variations.filter(variation_number=number).first()
        if isinstance(number, int) and not isinstance(number, bool)
        else None
    )
    if variation is None:
        raise NoSuchVariation(f"Generation {parent.pk} has no variation {number!r}.")
    if not variation.is_terminal:
        # Choosing now would render its scene a second time instead of reusing it.
        raise VariationStateError(
            f"Variation {number} is {variation.status}; choose it once it has finished."
        )
    with transaction.atomic():
        # Choosing starts the parent: it takes a place under the owner's cap like a new one.
        caps.check_active_limit(owner=parent.owner)
        claimed = Generation.objects.filter(
            pk=parent.pk, status=Generation.Status.AWAITING_CHOICE
        ).update(
            status=Generation.Status.QUEUED,
            stage="queued",
            seed=variation.seed,
            model_version=parent.model_version or variation.model_version,
        )
        if not claimed:
            parent.refresh_from_db(fields=["status"])
            raise VariationStateError(
                f"Generation {parent.pk} is {parent.status}; a variation can be chosen only "
                "while it is awaiting its choice."
            )
        parent.refresh_from_db()
        reuse_matching(source=variation, target=parent)
        settle_estimate(parent)
        if enqueue:
            transaction.on_commit(lambda: enqueue_start_generation(parent.pk))
    parent.refresh_from_db()
    return parent


def variation_finished(*, generation_id: uuid.UUID) -> None:
    """After a variation is stitched: store its first frame as a thumbnail, and tell the parent
    when every variation has ended."""
    generation = Generation.objects.select_related("variation_of").get(pk=generation_id)
    if generation.variation_of is None:
        return
    first = generation.scenes.order_by("index").first()
    if first is not None and first.clip and not generation.thumbnail:
        _save_thumbnail(generation, first.clip)
    parent = generation.variation_of
    open_ones = parent.variations.exclude(status__in=Generation.TERMINAL).count()
    if open_ones == 0:
        Generation.objects.filter(pk=parent.pk, status=Generation.Status.AWAITING_CHOICE).update(
            stage="variations ready: choose one"
        )


def _save_thumbnail(generation: Generation, clip: Any) -> None:
    """The clip's first frame as a PNG, read and written through the storage API."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "clip.mp4"
        with clip.open("rb") as source, local.open("wb") as copy:
            for chunk in source.chunks():
                copy.write(chunk)
        media.save_png(media.first_frame(local), Path(tmp) / "thumbnail.png")
        with (Path(tmp) / "thumbnail.png").open("rb") as png:
            generation.thumbnail.save("thumbnail.png", File(png), save=False)
    Generation.objects.filter(pk=generation.pk).update(thumbnail=generation.thumbnail.name)
