"""Media files, served only to those who may see the generation they belong to.

Clips, last frames, latents and final videos live under ``generations/<uuid>/`` in the media
storage; the same owner scoping as the API applies (token or session auth; staff see everything;
anyone else gets a 404). Only after that check: on object storage the answer is a redirect to a
short-lived signed URL (the bucket stays private), on the local filesystem Django streams the file
from the storage. In production on one machine, put nginx in front and set
COHERENCE_SERVE_MEDIA=false.
"""

from __future__ import annotations

import mimetypes
import uuid

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from generations.selectors import generations_visible_to
from generations.storage import signed_url_for


@extend_schema(exclude=True)
class MediaView(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request, path: str) -> HttpResponse:
        folder, _, rest = path.partition("/")
        generation_ref, _, _ = rest.partition("/")
        try:
            generation_id = uuid.UUID(generation_ref)
        except ValueError:
            raise Http404 from None
        visible = generations_visible_to(request.user).filter(pk=generation_id).exists()
        if folder != "generations" or not visible:
            raise Http404
        try:
            if not default_storage.exists(path):
                raise Http404
        except SuspiciousFileOperation:  # ../ and friends
            raise Http404 from None
        url = signed_url_for(default_storage, path)
        if url:
            return HttpResponseRedirect(url)
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return FileResponse(default_storage.open(path, "rb"), content_type=content_type)
