from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views.static import serve


def serve_media(request: HttpRequest, path: str) -> HttpResponse:
    # Reads MEDIA_ROOT per request (not at import), so a changed setting is honoured.
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("generations.api.urls")),
    path("", include("generations.urls")),
]

if settings.COHERENCE_SERVE_MEDIA:
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", serve_media)]
