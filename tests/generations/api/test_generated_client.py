"""A consumer's first contact: a Python client generated from the served schema with
openapi-python-client (as docs/api.md suggests), used through its own functions only, against a
live server on loopback: create, wait, download the video and the coherence report, re-render a
scene, and pick a seed variation. Renders run inline in the server (django-q2 sync mode).

Every call raises on a status the schema does not document (``raise_on_unexpected_status``), so a
status the server answers but the schema leaves out fails here the way it fails a consumer.
"""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace

import httpx
import pytest
from PIL import Image
from rest_framework.authtoken.models import Token

from generations.models import Generation
from pipeline.providers.registry import WAN_I2V_FAST

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media_root", "no_task_failures"),
    pytest.mark.timeout(300),
]

PACKAGE = "coherence_client"
# openapi-python-client reads only JSON, text and octet-stream answers as data; the media routes
# document their real types, which a consumer maps to bytes in the generator's config (no ruff
# post-hooks: the generated code is imported, not kept).
GENERATOR_CONFIG = """\
post_hooks: []
content_type_overrides:
  video/mp4: application/octet-stream
  image/png: application/octet-stream
  image/jpeg: application/octet-stream
  image/webp: application/octet-stream
"""
TERMINAL = {"succeeded", "failed", "canceled"}


@pytest.fixture
def generated(live_server, tmp_path) -> Iterator[SimpleNamespace]:
    """The client package generated from the live server's schema, imported from tmp_path."""
    schema = httpx.get(f"{live_server.url}/api/schema/?format=json", timeout=30)
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    (tmp_path / "config.yml").write_text(GENERATOR_CONFIG)
    run = subprocess.run(
        [
            *(sys.executable, "-m", "openapi_python_client", "generate"),
            *("--path", str(tmp_path / "schema.json"), "--config", str(tmp_path / "config.yml")),
            *("--meta", "none", "--output-path", str(tmp_path / PACKAGE)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # A warning means an operation or answer was left out of the client.
    assert run.returncode == 0 and "Warning" not in run.stdout, run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield SimpleNamespace(
            client=_module(""),
            api=lambda name: _module(f".api.{name}"),
            models=_module(".models"),
            types=_module(".types"),
        )
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}{name}")


@pytest.fixture
def client(generated, live_server, user):
    token, _ = Token.objects.get_or_create(user=user)
    return generated.client.AuthenticatedClient(
        base_url=live_server.url,
        token=token.key,
        prefix="Token",
        raise_on_unexpected_status=True,
        timeout=httpx.Timeout(120),
    )


def wait_for(generated, client, generation_id, *, seconds: float = 120.0):
    """Poll the generation, as a consumer would, until it ends."""
    retrieve = generated.api("generations.generations_retrieve")
    deadline = time.monotonic() + seconds
    while True:
        detail = retrieve.sync(generation_id, client=client)
        if str(detail.status) in TERMINAL or time.monotonic() > deadline:
            return detail
        time.sleep(0.2)


def scenes_of(models, plan: list[dict]) -> list:
    return [models.SceneInputRequest.from_dict(scene) for scene in plan]


def test_a_generated_client_does_the_whole_sitting_with_its_own_functions(generated, client, plan):
    models = generated.models
    create = generated.api("generations.generations_create")

    # Create (the natural call: a JSON body), wait, download.
    answer = create.sync_detailed(
        client=client,
        body=models.GenerationCreateRequest(title="Fox and lake", scenes=scenes_of(models, plan)),
    )
    assert answer.status_code == 201, answer.content
    assert answer.parsed.status is not None
    created = wait_for(generated, client, answer.parsed.id)
    assert str(created.status) == "succeeded", created.error

    video = generated.api("media.generations_file").sync(
        created.id, models.GenerationsFileKind.VIDEO, client=client
    )
    stored = Generation.objects.get(pk=created.id).video
    with stored.open("rb") as handle:
        assert video.payload.read() == handle.read()
    assert created.video_url == f"{client._base_url}/api/generations/{created.id}/video"

    report = generated.api("generations.generations_coherence").sync(created.id, client=client)
    assert report.score == created.coherence_score
    assert len(report.report.scenes) == len(plan)

    # Re-render scene 3 (the head of the second chain): it and scene 4 render, 1 and 2 are reused.
    rerender_plan = generated.api("generations.generations_rerender_plan").sync(
        str(created.id), 3, client=client
    )
    assert (rerender_plan.rendered_scenes, rerender_plan.reused_scenes) == ([3, 4], [1, 2])
    rerendered = generated.api("generations.generations_rerender").sync(
        str(created.id),
        3,
        client=client,
        body=models.RerenderRequest(prompt="a stormy lake at dusk"),
    )
    rerendered = wait_for(generated, client, rerendered.id)
    assert str(rerendered.status) == "succeeded", rerendered.error
    assert rerendered.source_generation == created.id
    assert [scene.recipe["rendered"] for scene in rerendered.scenes] == [False, False, True, True]
    assert rerendered.scenes[2].prompt == "a stormy lake at dusk"

    # Seed variations of the first scene: list them, choose the best, get the full generation.
    parent = create.sync(
        client=client,
        body=models.GenerationCreateRequest(scenes=scenes_of(models, plan[:2]), variations=2),
    )
    assert str(parent.status) == "awaiting_choice"
    variations = generated.api("generations.generations_variations").sync(parent.id, client=client)
    assert [item.rank for item in variations] == [1, 2]
    assert all(item.status == "succeeded" for item in variations)
    best = variations[0]
    thumbnail = generated.api("media.generations_file").sync(
        best.generation, models.GenerationsFileKind.THUMBNAIL, client=client
    )
    assert thumbnail.payload.read().startswith(b"\x89PNG")
    chosen = generated.api("generations.generations_choose_variation").sync(
        str(parent.id), best.number, client=client
    )
    chosen = wait_for(generated, client, chosen.id)
    assert str(chosen.status) == "succeeded", chosen.error
    assert chosen.seed_value == best.seed


@pytest.mark.usefixtures("user_may_use_hosted_models")
def test_the_generated_multipart_body_uploads_start_images_to_a_hosted_model(
    generated, client, server
):
    """The multipart body is a type of its own: its plan part goes as JSON, the reference image
    and a scene's image (``scenes.<N>.image``, an additional property) as files. Wan needs a start
    image for each chain head; the loopback Replicate double renders."""
    models, types = generated.models, generated.types
    reference, scene_image = png("PNG"), png("JPEG")
    plan = models.GenerationCreateRequest(
        scenes=[
            models.SceneInputRequest(prompt="a red fox runs through snow", duration=1.0),
            models.SceneInputRequest(prompt="a quiet lake at dawn", duration=1.0),
        ],
        provider=models.ProviderEnum.REPLICATE,
        model=WAN_I2V_FAST,
    )
    body = models.GenerationCreateMultipartRequest(
        plan=plan,
        reference_image=types.File(io.BytesIO(reference), "start.png", "image/png"),
    )
    body["scenes.1.image"] = types.File(io.BytesIO(scene_image), "lake.jpg", "image/jpeg")

    answer = generated.api("generations.generations_create").sync_detailed(client=client, body=body)

    assert answer.status_code == 201, answer.content
    created = wait_for(generated, client, answer.parsed.id)
    assert str(created.status) == "succeeded", created.error
    sources = [scene.recipe["start_image"]["source"] for scene in created.scenes]
    assert sources == ["reference", "scene"]
    start_image = generated.api("media.generations_scene_file").sync(
        created.id, 2, models.GenerationsSceneFileKind.START_IMAGE, client=client
    )
    assert start_image.payload.read() == scene_image


def test_an_unknown_ordering_is_a_documented_400_the_client_reads(generated, client):
    listing = generated.api("generations.generations_list")

    assert listing.sync(client=client, ordering="-created_at, status").count == 0
    refused = listing.sync_detailed(client=client, ordering="title")
    assert refused.status_code == 400
    assert "Allowed: created_at" in refused.parsed.errors["ordering"][0]


def png(kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 120, 40)).save(buffer, format=kind)
    return buffer.getvalue()
