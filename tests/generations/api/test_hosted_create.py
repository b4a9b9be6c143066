"""Creating hosted generations through the API: start images (multipart, data URI, https URL),
required inputs settled before any prediction exists, estimated cost and the cost cap."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from generations.models import Generation
from pipeline.providers.registry import MINIMAX_VIDEO_01, WAN_I2V_FAST

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("user_may_use_hosted_models"),
]

PLAN = [
    {"prompt": "a red fox runs through snow", "duration": 1.0},
    {"prompt": "the fox leaps over a log", "duration": 1.0, "continuous": True},
]


def png(width: int = 64, height: int = 36, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format=kind)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_multipart_create_with_a_reference_image_runs_wan(api, server):
    image = io.BytesIO(png())
    image.name = "start.png"
    body = {"plan": json.dumps({"scenes": PLAN, "provider": "replicate", "model": WAN_I2V_FAST})}

    response = api.post("/api/generations/", {**body, "reference_image": image})

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "succeeded", data["error"]
    assert len(data["reference_image_sha256"]) == 64
    assert data["estimated_cost"] == "0.1000"  # two wan clips at 480p, $0.05 each
    assert data["scenes"][0]["recipe"]["start_image"]["source"] == "reference"
    assert len(server.prediction_ids()) == 2


def test_json_create_with_a_data_uri_scene_image(api, server):
    scenes = [{**PLAN[0], "image": data_uri(png(kind="JPEG"), "image/jpeg")}]

    response = api.post(
        "/api/generations/",
        {"scenes": scenes, "provider": "replicate", "model": WAN_I2V_FAST},
        format="json",
    )

    assert response.status_code == 201, response.json()
    scene = response.json()["scenes"][0]
    image = api.get(scene["image_url"])  # served by record, to its owner only
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert scene["recipe"]["start_image"] == {"source": "scene", "sha256": scene["image_sha256"]}


def test_wan_without_an_image_is_a_400_naming_scene_and_field(api, server):
    response = api.post(
        "/api/generations/",
        {"scenes": PLAN, "provider": "replicate", "model": WAN_I2V_FAST},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"]["scenes.0.image"] == [
        f"Scene 1: model {WAN_I2V_FAST} requires 'image' (a start image); give this scene an "
        "image or the generation a reference_image."
    ]
    assert Generation.objects.count() == 0
    assert server.prediction_ids() == []


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (data_uri(b"not an image"), "cannot be decoded"),
        (data_uri(png(4097, 8)), "at most 4096 px a side"),
        ("data:image/png;base64,@@@", "not valid base64"),
        ("http://example.com/a.png", "must be https://"),
        (data_uri(png(kind="GIF"), "image/gif"), "use PNG, JPEG or WebP"),
        (42, "file upload, a base64 data URI or an https URL"),
    ],
)
def test_bad_images_are_400s_on_their_field(api, server, image, message):
    response = api.post(
        "/api/generations/",
        {"scenes": PLAN, "provider": "replicate", "model": WAN_I2V_FAST, "reference_image": image},
        format="json",
    )

    assert response.status_code == 400
    assert message in response.json()["errors"]["reference_image"][0]
    assert Generation.objects.count() == 0


def test_an_oversized_upload_is_a_400(api, server):
    big = io.BytesIO(b"\x89PNG" + b"0" * (10 * 1024 * 1024))
    big.name = "big.png"
    body = {"plan": json.dumps({"scenes": PLAN, "provider": "replicate", "model": WAN_I2V_FAST})}

    response = api.post("/api/generations/", {**body, "reference_image": big})

    assert response.status_code == 400
    assert "10 MB" in response.json()["errors"]["reference_image"][0]


def test_a_plan_over_the_cost_cap_is_a_400_with_estimate_and_cap(api, server, settings):
    settings.COHERENCE = {**settings.COHERENCE, "MAX_COST_USD": 0.5}

    response = api.post(
        "/api/generations/",
        {"scenes": PLAN, "provider": "replicate", "model": MINIMAX_VIDEO_01},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"]["cost"] == [
        "The estimated cost is $1.00, above the cap of $0.50 per generation "
        "(COHERENCE_MAX_COST_USD); shorten the plan or raise the cap."
    ]
    assert server.prediction_ids() == []
