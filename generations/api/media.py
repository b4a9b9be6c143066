"""Media files, served by record: look up the row the caller may see, then hand out its file.

A URL names a generation (and a scene number and a file kind), never a path, so there is nothing
to traverse: ``..``, ``%2e%2e``, ``%252e%252e``, backslashes or absolute paths cannot match the
routes, and the file handed out is whatever the row's FileField names, opened through its storage.
Provider scratch and latents have no route at all.

``file_response`` is the one place a file leaves: it streams through Django, or hands the file to
the web server (``COHERENCE_MEDIA_SENDFILE``: nginx ``X-Accel-Redirect``, Apache ``X-Sendfile``)
after the same checks. On object storage the answer is a redirect to a short-lived signed URL
(the bucket stays private), also only after those checks.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from coherence_project.conf import config
from generations.api.errors import UNAUTHENTICATED, ApiErrorsMixin, error
from generations.media.links import GENERATION_FILES, SCENE_FILES
from generations.media.storage import signed_url
from generations.models import Generation
from generations.selectors import generations_visible_to

NO_FILE = "No such file among your generations."
# What each stored file is, by the extension it was stored under (clips and videos are mp4,
# frames and thumbnails png, uploaded start images png, jpg or webp: pipeline.images.FORMATS).
# Explicit, not mimetypes: its answer depends on the machine's /etc/mime.types.
MP4, PNG, JPEG, WEBP = "video/mp4", "image/png", "image/jpeg", "image/webp"
CONTENT_TYPES = {".mp4": MP4, ".png": PNG, ".jpg": JPEG, ".jpeg": JPEG, ".webp": WEBP}
X_ACCEL = "x-accel-redirect"
X_SENDFILE = "x-sendfile"


def _safe_name(name: str) -> bool:
    """Defence in depth: a stored name is relative, forward-slashed and never climbs."""
    return bool(name) and not (
        name.startswith("/") or "\\" in name or "\x00" in name or ".." in name.split("/")
    )


def file_response(request: Request, field_file: FieldFile) -> HttpResponse:
    """Hand a checked file out (the caller has already done the owner/permission check)."""
    name = field_file.name if field_file else ""
    if not _safe_name(name) or not field_file.storage.exists(name):
        raise exceptions.NotFound(NO_FILE)
    signed = signed_url(field_file)
    if signed:
        return HttpResponseRedirect(signed)
    content_type = CONTENT_TYPES.get(
        posixpath.splitext(name)[1].lower(), "application/octet-stream"
    )
    mode = config.MEDIA_SENDFILE.lower()
    if mode == X_ACCEL:
        response = HttpResponse(content_type=content_type)
        prefix = config.MEDIA_SENDFILE_PREFIX.rstrip("/")
        response["X-Accel-Redirect"] = f"{prefix}/{quote(name)}"
    elif mode == X_SENDFILE:
        response = HttpResponse(content_type=content_type)
        response["X-Sendfile"] = posixpath.join(config.MEDIA_SENDFILE_PREFIX, name)
    else:
        response = FileResponse(
            field_file.storage.open(name, "rb"),
            content_type=content_type,
            filename=posixpath.basename(name),
        )
    response["Cache-Control"] = "private, max-age=0"
    return response


def _generation(request: Request, generation_id: str) -> Generation:
    generation = generations_visible_to(request.user).filter(pk=generation_id).first()
    if generation is None:
        raise exceptions.NotFound(NO_FILE)
    return generation


START_IMAGE = (PNG, JPEG, WEBP)
GENERATION_FILE_TYPES = {"video": (MP4,), "thumbnail": (PNG,), "reference-image": START_IMAGE}
SCENE_FILE_TYPES = {
    "clip": (MP4,),
    "last-frame": (PNG,),
    "conditioning-frame": (PNG,),
    "start-image": START_IMAGE,
}


def file_responses(types: dict[str, tuple[str, ...]]) -> dict:
    """The documented answers of a media route: the file in its real content type (which one
    depends on ``kind``), the object-storage redirect, and the errors."""
    by_type: dict[str, list[str]] = {}
    for kind, content_types in types.items():
        for content_type in content_types:
            by_type.setdefault(content_type, []).append(kind)
    files = {
        (200, content_type): OpenApiResponse(
            OpenApiTypes.BINARY,
            description="The file; its type by `kind`: "
            + "; ".join(f"{t} for {', '.join(k)}" for t, k in by_type.items())
            + ".",
        )
        for content_type in by_type
    }
    return {
        **files,
        302: OpenApiResponse(
            description="Media on object storage: `Location` is a short-lived signed URL of the "
            "file (the bucket stays private); given only after the same checks."
        ),
        401: UNAUTHENTICATED,
        404: error("No such generation among yours, or it has no such file (yet)."),
    }


class AnyAccept(BaseContentNegotiation):
    """A file is what it is: a client asking for ``video/mp4`` (or ``image/*``) gets it, not a
    406 from DRF's negotiation against its JSON renderer; errors are always JSON."""

    def select_parser(self, request: Request, parsers: list) -> object:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix=None) -> tuple:
        return renderers[0], renderers[0].media_type


class MediaView(ApiErrorsMixin, APIView):
    content_negotiation_class = AnyAccept
    renderer_classes = [JSONRenderer]


class GenerationFileView(MediaView):
    """The final video, or the reference image, of a generation you may see."""

    @extend_schema(
        operation_id="generations_file",
        summary="The final video (mp4) or the reference start image",
        parameters=[
            OpenApiParameter("generation_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=sorted(GENERATION_FILES)),
        ],
        responses=file_responses(GENERATION_FILE_TYPES),
        tags=["media"],
    )
    def get(self, request: Request, generation_id: str, kind: str) -> HttpResponse:
        generation = _generation(request, generation_id)
        if kind not in GENERATION_FILES:
            raise exceptions.NotFound(NO_FILE)
        return file_response(request, getattr(generation, GENERATION_FILES[kind]))


class SceneFileView(MediaView):
    """A scene's clip, last frame, or the frame it was conditioned on."""

    @extend_schema(
        operation_id="generations_scene_file",
        summary="A scene's clip (mp4), last frame, conditioning frame or start image",
        parameters=[
            OpenApiParameter("generation_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter(
                "number", OpenApiTypes.INT, OpenApiParameter.PATH, description="1-based."
            ),
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=sorted(SCENE_FILES)),
        ],
        responses=file_responses(SCENE_FILE_TYPES),
        tags=["media"],
    )
    def get(self, request: Request, generation_id: str, number: str, kind: str) -> HttpResponse:
        generation = _generation(request, generation_id)
        index = int(number) - 1  # the route admits digits only
        scene = generation.scenes.filter(index=index).first() if index >= 0 else None
        if scene is None or kind not in SCENE_FILES:
            raise exceptions.NotFound(NO_FILE)
        return file_response(request, getattr(scene, SCENE_FILES[kind]))


# The same files at the URLs with a trailing slash that the schema gave before; they keep working
# for clients built from it, and the schema documents only the one form.
@extend_schema_view(get=extend_schema(exclude=True))
class GenerationFileSlashView(GenerationFileView):
    pass


@extend_schema_view(get=extend_schema(exclude=True))
class SceneFileSlashView(SceneFileView):
    pass
