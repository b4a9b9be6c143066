"""Nothing lingers, and nothing a live row references is ever removed."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models.signals import pre_delete
from django.utils import timezone

from generations.lifecycle.engine import get_provider
from generations.media.cleanup import media_storage, sweep
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline.providers.registry import LOCAL_PROVIDER
from tests.support.roles import stored_generation

pytestmark = pytest.mark.django_db

HOUR = 3600


def files_of(generation: Generation) -> set[str]:
    names = {generation.video.name} if generation.video else set()
    for scene in Scene.objects.filter(generation=generation):
        for field in ("clip", "last_frame", "final_latent", "handover_frame"):
            if getattr(scene, field):
                names.add(getattr(scene, field).name)
    return names


def exists(name: str) -> bool:
    return media_storage().exists(name)


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def cleanup(*args: str) -> str:
    out = StringIO()
    call_command("cleanup_media", *args, stdout=out)
    return out.getvalue()


# --- deleting a generation ------------------------------------------------------------------------


def test_deleting_a_generation_deletes_its_files_after_commit(
    mine, django_capture_on_commit_callbacks
):
    names = files_of(mine)
    assert len(names) == 7 and all(exists(n) for n in names)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        mine.delete()
        assert all(exists(n) for n in names)  # not before the commit
    for callback in pending:
        callback()
    assert not any(exists(n) for n in names)


def test_a_rolled_back_delete_keeps_every_file(mine, django_capture_on_commit_callbacks):
    names = files_of(mine)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        Generation.objects.get(pk=mine.pk).delete()
        raise RuntimeError("roll back")
    assert Generation.objects.filter(pk=mine.pk).exists()
    assert all(exists(n) for n in names)


def test_a_file_another_row_still_references_is_kept(
    mine, theirs, django_capture_on_commit_callbacks
):
    # A regeneration may reuse a scene's clip (iterate: re-render one scene); deleting the
    # original must not pull it from under the other row.
    shared = mine.scenes.get(index=0).clip.name
    Scene.objects.filter(generation=theirs, index=0).update(clip=shared)
    with django_capture_on_commit_callbacks(execute=True):
        Generation.objects.get(pk=mine.pk).delete()
    assert exists(shared)
    assert not exists(mine.video.name)


def test_admin_bulk_delete_removes_files_too(
    client, staff_user, mine, theirs, django_capture_on_commit_callbacks
):
    names = files_of(mine) | files_of(theirs)
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/generations/generation/",
            {
                "action": "delete_selected",
                "_selected_action": [str(mine.pk), str(theirs.pk)],
                "post": "yes",
            },
        )
    assert Generation.objects.count() == 0
    assert not any(exists(n) for n in names)


def test_the_emptied_folders_go_too(mine, media_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        Generation.objects.get(pk=mine.pk).delete()
    assert not (media_root / "generations" / str(mine.pk)).exists()


# --- cleanup_media -------------------------------------------------------------------------------


def test_cleanup_removes_old_unreferenced_files_only(mine, media_root):
    old_orphan = media_root / "generations" / "stray" / "old.mp4"
    old_orphan.parent.mkdir(parents=True)
    old_orphan.write_bytes(b"x")
    age(old_orphan, 2 * HOUR)
    fresh_orphan = media_root / "generations" / "stray" / "fresh.mp4"
    fresh_orphan.write_bytes(b"x")  # work in progress, perhaps: too young to touch
    for name in files_of(mine):
        age(media_root / name, 48 * HOUR)  # old, but referenced

    out = cleanup()

    assert not old_orphan.exists() and fresh_orphan.exists()
    assert all(exists(n) for n in files_of(mine))
    assert "removed unreferenced: generations/stray/old.mp4" in out


def test_a_dry_run_lists_and_deletes_nothing(media_root):
    orphan = media_root / "orphan.png"
    orphan.write_bytes(b"x")
    age(orphan, 2 * HOUR)
    out = cleanup("--dry-run")
    assert "would remove unreferenced: orphan.png" in out
    assert orphan.exists()


def test_stale_scratch_goes_but_a_running_scenes_scratch_stays(mine):
    root = Path(get_provider(LOCAL_PROVIDER).root)
    running_id, done_id = "local-" + "a" * 32, "local-" + "b" * 32
    for prediction in (running_id, done_id):
        (root / prediction).mkdir(parents=True)
        (root / prediction / "prediction.json").write_text('{"input": {"prompt": "secret"}}')
        age(root / prediction, 2 * HOUR)
    Scene.objects.filter(generation=mine, index=0).update(
        status=Scene.Status.RUNNING, prediction_id=running_id
    )
    cleanup()
    assert (root / running_id).exists()
    assert not (root / done_id).exists()


def test_retention_expires_old_generations_files_and_says_so(mine, theirs, settings):
    settings.COHERENCE = {**settings.COHERENCE, "RETENTION_DAYS": 30}
    old_names = files_of(mine)
    Generation.objects.filter(pk=mine.pk).update(finished_at=timezone.now() - timedelta(days=31))
    Generation.objects.filter(pk=theirs.pk).update(finished_at=timezone.now() - timedelta(days=29))

    out = cleanup()

    mine.refresh_from_db()
    assert not mine.video and not any(exists(n) for n in old_names)
    assert "COHERENCE_RETENTION_DAYS" in mine.warnings[-1]
    assert all(exists(n) for n in files_of(theirs))
    assert "1 generation(s) past 30 day(s)" in out


def test_retention_is_off_by_default(mine):
    Generation.objects.filter(pk=mine.pk).update(finished_at=timezone.now() - timedelta(days=3650))
    cleanup()
    assert all(exists(n) for n in files_of(mine))


def test_nothing_a_live_row_references_is_ever_removed(user, roles, plan, media_root):
    generations = [
        stored_generation(owner, plan[: 1 + i % 3], payload=b"p%d" % i)
        for i, owner in enumerate([user, roles["other"], user, roles["staff_view"]])
    ]
    for path in media_root.rglob("*"):
        if path.is_file():
            age(path, 365 * 24 * HOUR)  # everything looks ancient
    stray = media_root / "generations" / "stray.bin"
    stray.write_bytes(b"x")
    age(stray, 2 * HOUR)

    result = sweep(dry_run=False, retention_days=None, min_age=timedelta(0))

    referenced = set().union(*(files_of(g) for g in generations))
    assert referenced and all(exists(n) for n in referenced)
    assert result.orphans == ["generations/stray.bin"]


def test_a_bad_min_age_is_one_readable_line():
    with pytest.raises(CommandError, match="--min-age must be zero or more"):
        call_command("cleanup_media", "--min-age", "-1")


# --- scratch is removed when its scene completes --------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_local_scratch_is_removed_when_each_scene_completes(user, plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan), owner=user)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    scratch = Path(get_provider(LOCAL_PROVIDER).root)
    predictions = [s.prediction_id for s in generation.scenes.all()]
    assert all(predictions)
    assert [p for p in predictions if (scratch / p).exists()] == []
    assert all(exists(n) for n in files_of(generation))  # the outputs themselves are kept


def test_admin_delete_of_an_unfinished_generation_cancels_it_first(
    client, staff_user, plan, django_capture_on_commit_callbacks
):
    seen = []

    def status_when_deleted(sender, instance, **kwargs):
        seen.append(Generation.objects.values_list("status", flat=True).get(pk=instance.pk))

    running = create_generation(GenerationRequest(scenes=plan[:1]), enqueue=False)
    Generation.objects.filter(pk=running.pk).update(status=Generation.Status.RUNNING)
    client.force_login(staff_user)
    pre_delete.connect(status_when_deleted, sender=Generation)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/admin/generations/generation/{running.pk}/delete/", {"post": "yes"})
    finally:
        pre_delete.disconnect(status_when_deleted, sender=Generation)
    assert seen == [Generation.Status.CANCELED]
    assert not Generation.objects.filter(pk=running.pk).exists()


def test_old_empty_folders_go_but_the_media_root_stays(media_root):
    leftover = media_root / "tmpab12cd"  # a worker killed mid-stitch leaves its temporary folder
    leftover.mkdir()
    age(leftover, 2 * HOUR)
    cleanup()
    assert not leftover.exists()
    assert media_root.is_dir()
