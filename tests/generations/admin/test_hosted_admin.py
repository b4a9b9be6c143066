"""Admin for hosted models: create with uploaded start images, costs, stored schemas and age."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from generations.models import Generation, HostedModelSchema
from pipeline.providers.registry import MINIMAX_VIDEO_01, WAN_I2V_FAST
from tests.support.frames import write_frame_png

pytestmark = [pytest.mark.django_db(transaction=True)]

CREATE = reverse("admin:generations_generation_create_with_images")
PLAN = [
    {"prompt": "a red fox runs through snow", "duration": 1.0},
    {"prompt": "a quiet lake at dawn", "duration": 1.0},
]


def upload(tmp_path, name: str) -> SimpleUploadedFile:
    data = write_frame_png(tmp_path / name).read_bytes()
    return SimpleUploadedFile(name, data, content_type="image/png")


def form(**extra) -> dict:
    return {"provider": "replicate", "model": WAN_I2V_FAST, "scenes": json.dumps(PLAN), **extra}


def test_create_with_an_uploaded_reference_and_scene_image(staff_client, server, tmp_path):
    response = staff_client.post(
        CREATE,
        form(
            reference_image=upload(tmp_path, "ref.png"),
            scene_images=upload(tmp_path, "scene-1.png"),
        ),
    )

    generation = Generation.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:generations_generation_change", args=[generation.pk])
    first, second = generation.scenes.order_by("index")
    assert first.image_sha256 and first.recipe["start_image"]["source"] == "scene"
    assert second.recipe["start_image"] == {
        "source": "reference",
        "sha256": generation.reference_image_sha256,
    }
    page = staff_client.get(response.url).content.decode()
    assert generation.reference_image_sha256 in page
    assert "0.1000" in page  # estimated (and actual) cost: two wan clips at $0.05


def test_create_without_a_required_image_shows_the_error_and_creates_nothing(staff_client, server):
    response = staff_client.post(CREATE, form())

    assert response.status_code == 200
    assert "scenes.0.image: Scene 1: model wan-video/wan-2.2-i2v-fast requires" in (
        response.content.decode()
    )
    assert Generation.objects.count() == 0
    assert server.prediction_ids() == []


def test_a_scene_image_with_a_name_that_names_no_scene_is_refused(staff_client, server, tmp_path):
    response = staff_client.post(CREATE, form(scene_images=upload(tmp_path, "start.png")))

    assert "start.png: name it scene-N for a scene N." in response.content.decode()
    assert Generation.objects.count() == 0


def test_the_changelist_shows_estimated_cost(staff_client, server):
    staff_client.post(CREATE, form(model=MINIMAX_VIDEO_01))

    page = staff_client.get(reverse("admin:generations_generation_changelist")).content.decode()
    assert "estimated cost" in page.lower()
    assert "1.0000" in page  # two minimax clips at $0.50


def test_stored_schemas_are_listed_with_their_age_and_shown(staff_client, server):
    call_command("sync_models", stdout=io.StringIO())
    row = HostedModelSchema.objects.get(model=WAN_I2V_FAST)

    listing = staff_client.get(reverse("admin:generations_hostedmodelschema_changelist"))
    detail = staff_client.get(reverse("admin:generations_hostedmodelschema_change", args=[row.pk]))

    assert listing.status_code == 200
    assert WAN_I2V_FAST in listing.content.decode()
    assert "ago" in listing.content.decode()
    page = detail.content.decode()
    assert row.fingerprint in page
    assert "num_frames" in page
    assert "none: the registry matches the schema" in page
