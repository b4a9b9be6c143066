"""Links to media files: always the record endpoints that check who asks, never a storage URL.

``/api/generations/<id>/video`` and ``/api/generations/<id>/scenes/<n>/<kind>`` (n is the scene's
1-based number) are served by generations.api.media; the API, the admin and the staff page link
to them through these helpers.
"""

from __future__ import annotations

from django.urls import reverse

from generations.models import Generation, Scene

# URL segment -> Scene file field. Latents and provider scratch are never served.
SCENE_FILES = {
    "clip": "clip",
    "last-frame": "last_frame",
    "conditioning-frame": "handover_frame",
    "start-image": "image",
}
# URL segment -> Generation file field.
GENERATION_FILES = {
    "video": "video",
    "reference-image": "reference_image",
    "thumbnail": "thumbnail",  # a seed variation's first frame (generations/iterate)
}


def generation_file_url(generation: Generation, kind: str) -> str | None:
    if not getattr(generation, GENERATION_FILES[kind]):
        return None
    return reverse("api:generation-file", args=[generation.pk, kind])


def video_url(generation: Generation) -> str | None:
    return generation_file_url(generation, "video")


def thumbnail_url(generation: Generation) -> str | None:
    return generation_file_url(generation, "thumbnail")


def scene_file_url(scene: Scene, kind: str) -> str | None:
    if not getattr(scene, SCENE_FILES[kind]):
        return None
    return reverse("api:scene-file", args=[scene.generation_id, scene.number, kind])
