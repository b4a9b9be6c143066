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

import mimetypes
import posixpath
from urllib.parse import quote

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from coherence_project.conf import config
from generations.api.errors import UNAUTHENTICATED, ApiErrorsMixin, error
from generations.media_urls import GENERATION_FILES, SCENE_FILES
from generations.models import Generation
from generations.selectors import generations_visible_to
from generations.storage import signed_url

NO_FILE = "No such file among your generations."
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
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
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


FILE_RESPONSES = {
    (200, "application/octet-stream"): OpenApiResponse(
        OpenApiTypes.BINARY, description="The file (video/mp4 or image/png)."
    ),
    401: UNAUTHENTICATED,
    404: error("No such generation among yours, or it has no such file (yet)."),
}


class GenerationFileView(ApiErrorsMixin, APIView):
    """The final video, or the reference image, of a generation you may see."""

    @extend_schema(
        operation_id="generations_file",
        summary="The final video (mp4) or the reference start image",
        parameters=[
            OpenApiParameter("generation_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=sorted(GENERATION_FILES)),
        ],
        responses=FILE_RESPONSES,
        tags=["media"],
    )
    def get(self, request: Request, generation_id: str, kind: str) -> HttpResponse:
        generation = _generation(request, generation_id)
        if kind not in GENERATION_FILES:
            raise exceptions.NotFound(NO_FILE)
        return file_response(request, getattr(generation, GENERATION_FILES[kind]))


class SceneFileView(ApiErrorsMixin, APIView):
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
        responses=FILE_RESPONSES,
        tags=["media"],
    )
    def get(self, request: Request, generation_id: str, number: str, kind: str) -> HttpResponse:
        generation = _generation(request, generation_id)
        index = int(number) - 1  # the route admits digits only
        scene = generation.scenes.filter(index=index).first() if index >= 0 else None
        if scene is None or kind not in SCENE_FILES:
            raise exceptions.NotFound(NO_FILE)
        return file_response(request, getattr(scene, SCENE_FILES[kind]))
