"""Nothing lingers: files follow their rows, and nothing a live row references is ever removed.

- Deleting a generation (API, admin, shell) removes its files once the deletion has committed; a
  rolled-back delete leaves them in place. A file another row still names (a regeneration that
  reused it) is kept.
- The local model's prediction scratch (``local-predictions/<id>/``: the raw render, its latent
  and a record holding the prompt) is removed when its scene completes.
- ``manage.py cleanup_media`` removes files no row references (older than an hour, so work in
  progress is never touched) and, with COHERENCE_RETENTION_DAYS, expires old generations' files.

Media is reached through the FileFields' storage (``storage.exists/delete/listdir``), never by
joining names to MEDIA_ROOT, so this works the same on object storage.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import pre_delete
from django.utils import timezone

from coherence_project.conf import config
from generations.models import Generation, Scene

logger = logging.getLogger("coherence.media")

SCENE_FILE_FIELDS = ("clip", "last_frame", "final_latent", "handover_frame")
GENERATION_FILE_FIELDS = ("video", "thumbnail")  # thumbnail: a seed variation's first frame
# The local provider's scratch folder under MEDIA_ROOT (pipeline/providers/local.py); it is swept
# by prediction id below, never as loose files.
SCRATCH_FOLDER = "local-predictions"
# In-process providers (local model, diffusers) share it; their ids say which.
IN_PROCESS_PREDICTION_ID = re.compile(r"(?:local|diffusers)-[0-9a-f]{32}")
MIN_AGE = timedelta(hours=1)


def media_storage() -> Storage:
    return Generation._meta.get_field("video").storage


# --- which names rows reference ---------------------------------------------------------------


def _names_in(generation_q: Q, scene_q: Q) -> set[str]:
    found: set[str] = set()
    for row in Generation.objects.filter(generation_q).values_list(*GENERATION_FILE_FIELDS):
        found.update(row)
    for row in Scene.objects.filter(scene_q).values_list(*SCENE_FILE_FIELDS):
        found.update(row)
    found.discard("")
    return found


def referenced_names(names: Iterable[str] | None = None) -> set[str]:
    """Of ``names`` (all when None), those some Generation or Scene row references now."""
    if names is None:
        return _names_in(Q(), Q())
    wanted = sorted(set(names))
    found: set[str] = set()
    for start in range(0, len(wanted), 150):  # SQLite caps the variables of one query
        chunk = wanted[start : start + 150]
        scene_q = Q()
        for name in SCENE_FILE_FIELDS:
            scene_q |= Q(**{f"{name}__in": chunk})
        found |= _names_in(Q(video__in=chunk) | Q(thumbnail__in=chunk), scene_q)
    return found & set(wanted)


def _scene_names(scenes: Iterable[Scene]) -> set[str]:
    return {getattr(s, f).name for s in scenes for f in SCENE_FILE_FIELDS if getattr(s, f)}


def live_prediction_ids() -> set[str]:
    """Prediction ids of scenes that have not ended: their scratch may still be read."""
    open_scenes = Scene.objects.exclude(status__in=Scene.TERMINAL).exclude(prediction_id="")
    return set(open_scenes.values_list("prediction_id", flat=True))


# --- removing ----------------------------------------------------------------------------------


def remove_unreferenced(names: Iterable[str], *, folders: Iterable[str] = ()) -> list[str]:
    """Delete those of ``names`` no row references (checked now), then prune ``folders`` when
    empty. Returns what was deleted."""
    names = {n for n in names if n}
    storage = media_storage()
    removed = []
    for name in sorted(names - referenced_names(names)):
        try:
            if storage.exists(name):
                storage.delete(name)
                removed.append(name)
        except OSError as exc:  # cleanup_media sweeps up whatever is left
            logger.warning("could not delete %s: %s", name, exc)
    for folder in folders:
        prune_empty_folders(storage, folder)
    return removed


def prune_empty_folders(
    storage: Storage, folder: str, *, older_than: datetime | None = None
) -> None:
    """Remove empty directories under (and including, unless it is the root) ``folder`` on a
    filesystem storage; object storage has no directories, so there is nothing to do there."""
    try:
        root = Path(storage.path(folder))
    except NotImplementedError:
        return
    if not root.is_dir():
        return
    below = sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True)
    # Deepest first, so a folder emptied by removing its empty children goes too.
    for directory in [*below, root] if folder else below:
        modified = datetime.fromtimestamp(directory.stat().st_mtime, tz=UTC)
        if older_than is not None and modified > older_than:
            continue
        with contextlib.suppress(OSError):  # rmdir only ever removes an empty directory
            directory.rmdir()


def scratch_dir(prediction_id: str) -> Path | None:
    """An in-process model's scratch folder of a prediction (None for hosted predictions)."""
    if not IN_PROCESS_PREDICTION_ID.fullmatch(prediction_id or ""):
        return None
    return Path(config.LOCAL_SCRATCH_DIR) / prediction_id


def discard_prediction_scratch(prediction_id: str) -> bool:
    """Remove a local prediction's scratch once its outputs are stored (it holds the prompt)."""
    folder = scratch_dir(prediction_id)
    if folder is None or not folder.is_dir() or config.KEEP_LOCAL_SCRATCH:
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


# --- files follow deleted rows ------------------------------------------------------------------


def _after_scene_delete(sender: Any, instance: Scene, **kwargs: Any) -> None:
    names = _scene_names([instance])
    prediction_id = instance.prediction_id

    def purge() -> None:
        remove_unreferenced(names)
        if prediction_id and not Scene.objects.filter(prediction_id=prediction_id).exists():
            discard_prediction_scratch(prediction_id)

    transaction.on_commit(purge)


def _after_generation_delete(sender: Any, instance: Generation, **kwargs: Any) -> None:
    names = {getattr(instance, f).name for f in GENERATION_FILE_FIELDS if getattr(instance, f)}
    folder = f"generations/{instance.pk}"
    transaction.on_commit(lambda: remove_unreferenced(names, folders=[folder]))


def connect_signals() -> None:
    """Called from GenerationsConfig.ready. pre_delete, since the scenes are gone by post_delete
    of their generation; the work itself waits for the commit."""
    pre_delete.connect(_after_scene_delete, sender=Scene, dispatch_uid="coherence-scene-files")
    pre_delete.connect(
        _after_generation_delete, sender=Generation, dispatch_uid="coherence-generation-files"
    )


# --- cleanup_media ------------------------------------------------------------------------------


@dataclass
class Sweep:
    """What a cleanup removed (or, in a dry run, would remove)."""

    orphans: list[str] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    expired_generations: int = 0


def walk_storage(storage: Storage, folder: str = "") -> Iterator[str]:
    """Every file name in ``storage`` under ``folder``, scratch excepted."""
    directories, files = storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}" if folder else name
    for directory in directories:
        path = f"{folder}/{directory}" if folder else directory
        if path != SCRATCH_FOLDER:
            yield from walk_storage(storage, path)


def orphaned_files(*, cutoff: datetime) -> list[str]:
    """Files no row references, last modified before ``cutoff``."""
    storage = media_storage()
    referenced = referenced_names()
    orphans = []
    for name in walk_storage(storage):
        if name in referenced:
            continue
        if storage.get_modified_time(name) < cutoff:
            orphans.append(name)
    return orphans


def stale_scratch(*, cutoff: datetime) -> list[Path]:
    """Local prediction scratch folders older than ``cutoff`` whose scene is not running."""
    root = Path(config.LOCAL_SCRATCH_DIR)
    if not root.is_dir():
        return []
    live = live_prediction_ids()
    return [
        folder
        for folder in sorted(root.iterdir())
        if folder.name not in live
        and datetime.fromtimestamp(folder.stat().st_mtime, tz=UTC) < cutoff
    ]


def expired_generations(*, days: int) -> list[Generation]:
    """Finished generations older than ``days`` that still have files."""
    before = timezone.now() - timedelta(days=days)
    has_files = ~Q(video="")
    for name in SCENE_FILE_FIELDS:
        has_files |= Q(**{f"scenes__{name}__gt": ""})
    finished = Generation.objects.filter(status__in=Generation.TERMINAL, finished_at__lt=before)
    return list(finished.filter(has_files).distinct())


def expire_files(generations: list[Generation], *, days: int) -> set[str]:
    """Forget the files of ``generations`` in their rows; returns the names they referenced."""
    names: set[str] = set()
    note = f"Files deleted after {days} days (COHERENCE_RETENTION_DAYS)."
    with transaction.atomic():
        for generation in generations:
            scenes = Scene.objects.filter(generation=generation)
            names |= _scene_names(scenes) | ({generation.video.name} if generation.video else set())
            scenes.update(**dict.fromkeys(SCENE_FILE_FIELDS, ""))
            generation.video = ""
            if note not in generation.warnings:
                generation.warnings = [*generation.warnings, note]
            generation.save(update_fields=["video", "warnings", "updated_at"])
    return names


def sweep(*, dry_run: bool, retention_days: int | None, min_age: timedelta = MIN_AGE) -> Sweep:
    """Expire old generations' files (when a retention is set), then remove orphans and stale
    scratch older than ``min_age``."""
    result = Sweep()
    if retention_days is not None:
        old = expired_generations(days=retention_days)
        result.expired_generations = len(old)
        if dry_run:
            result.expired = sorted(_scene_names(Scene.objects.filter(generation__in=old)))
            result.expired += sorted(g.video.name for g in old if g.video)
        else:
            result.expired = remove_unreferenced(expire_files(old, days=retention_days))
    cutoff = timezone.now() - min_age
    result.orphans = orphaned_files(cutoff=cutoff)
    stale = stale_scratch(cutoff=cutoff)
    result.scratch = [str(folder) for folder in stale]
    if not dry_run:
        result.orphans = remove_unreferenced(result.orphans)
        for folder in stale:
            shutil.rmtree(folder, ignore_errors=True)
        prune_empty_folders(media_storage(), "", older_than=cutoff)
    return result
