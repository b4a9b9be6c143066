"""Media files, served only to those who may see the generation they belong to.

Clips, last frames, latents and final videos live under ``generations/<uuid>/``; the same owner
scoping as the API applies (token or session auth; staff see everything; anyone else gets a 404).
Provider scratch space (e.g. ``local-predictions/``) is never served. In production, put a CDN or
nginx in front (X-Accel-Redirect) and set COHERENCE_SERVE_MEDIA=false.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.static import serve
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from generations.selectors import generations_visible_to


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
        return serve(request._request, path, document_root=settings.MEDIA_ROOT)
