"""Media on a real S3-compatible server (moto's, over HTTP): every file through the storage API,
nothing under MEDIA_ROOT, private objects reached only through signed URLs after the owner check."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from generations.media import storage
from generations.models import Generation, Scene
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline import media
from pipeline.providers import reset_providers
from pipeline.providers.registry import SEEDANCE_LITE
from tests.support.replicate import TOKEN, make_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def stored_names(generation: Generation) -> list[str]:
    names = [generation.video.name]
    for scene in generation.scenes.all():
        names += [scene.clip.name, scene.last_frame.name, scene.final_latent.name]
    return sorted(n for n in names if n)


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_a_generation_on_the_bucket_stores_every_file_there_and_nothing_under_media_root(
    s3_media, media_root, plan, user
):
    generation = create_generation(GenerationRequest(scenes=plan), owner=user)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error

    names = stored_names(generation)
    assert len(names) == 1 + 3 * len(plan)  # video + clip, last frame, latent per scene
    assert set(names) <= set(s3_media.object_keys())
    assert files_under(media_root) == []
    assert all(s3_media.public_grants(name) == [] for name in names)  # private objects
    # Continuous scenes started from exactly their predecessor's latent, read back from the bucket.
    second = generation.scenes.get(index=1)
    latent = s3_media.read(generation.scenes.get(index=0).final_latent.name)
    assert second.handover_sha256 == hashlib.sha256(latent).hexdigest()


def test_the_owner_gets_the_video_through_a_signed_url_and_nobody_else_does(
    s3_media, plan, user, django_user_model, tmp_path
):
    other = django_user_model.objects.create_user(username="mallory", password="pw-m-123")
    generation = create_generation(GenerationRequest(scenes=plan[:1]), owner=user)
    name = Generation.objects.get(pk=generation.pk).video.name
    path = f"/api/generations/{generation.pk}/video"

    answer = client_for(user).get(path)
    assert answer.status_code == 302
    signed = answer["Location"]
    assert "X-Amz-Signature=" in signed and "X-Amz-Expires=300" in signed
    body = httpx.get(signed).content
    assert body == s3_media.read(name)
    (tmp_path / "video.mp4").write_bytes(body)
    assert media.probe(tmp_path / "video.mp4").frame_count > 0

    detail = client_for(user).get(f"/api/generations/{generation.pk}/").json()
    assert detail["video_url"].endswith(path)  # links name the record; each visit signs anew
    assert client_for(other).get(path).status_code == 404
    assert client_for(other).get(f"/api/generations/{generation.pk}/").status_code == 404
    assert APIClient().get(path).status_code == 401


def test_signed_urls_only_where_the_storage_can_sign(s3_bucket, settings, plan, media_root):
    generation = create_generation(GenerationRequest(scenes=plan[:1]))
    local = Generation.objects.get(pk=generation.pk).video
    assert storage.signed_url(local) is None  # the filesystem: Django serves the bytes
    settings.STORAGES = s3_bucket.storages
    on_bucket = Generation.objects.get(pk=generation.pk).video
    url = storage.signed_url(on_bucket, seconds=60)
    assert url is not None and "X-Amz-Expires=60" in url


def test_a_losing_completer_removes_only_its_own_files(s3_media, plan):
    generation = create_generation(GenerationRequest(scenes=plan[:1]))
    scene = Scene.objects.get(generation=generation)
    winner = scene.clip.name
    extra = storage.save_file(winner, Path(__file__))  # the name is taken: a suffixed one
    assert extra != winner
    storage.delete_unreferenced([winner, extra], referenced=[winner])
    keys = s3_media.object_keys()
    assert winner in keys and extra not in keys


@pytest.fixture
def hosted(settings, media_root):
    with make_server() as server:
        settings.REPLICATE_API_TOKEN = TOKEN
        settings.REPLICATE_BASE_URL = server.base_url
        settings.COHERENCE = {**settings.COHERENCE, "PUBLIC_URL": ""}
        reset_providers()
        yield server
    reset_providers()


def test_a_hosted_generation_streams_its_outputs_into_the_bucket(
    s3_media, hosted, plan, media_root
):
    generation = create_generation(
        GenerationRequest(scenes=plan, provider="replicate", model=SEEDANCE_LITE)
    )
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    assert set(stored_names(generation)) <= set(s3_media.object_keys())
    assert files_under(media_root) == []


def test_a_hosted_output_over_the_size_cap_fails_the_scene_readably(hosted, settings, plan):
    settings.COHERENCE = {**settings.COHERENCE, "MAX_OUTPUT_BYTES": 1000}
    generation = create_generation(
        GenerationRequest(scenes=plan[:1], provider="replicate", model=SEEDANCE_LITE)
    )
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "over the 1000-byte cap (COHERENCE_MAX_OUTPUT_BYTES)" in generation.error
