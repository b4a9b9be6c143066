from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from generations.api.media import MediaView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("generations.api.urls")),
    path("", include("generations.urls")),
]

if settings.COHERENCE_SERVE_MEDIA:
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", MediaView.as_view(), name="media")]
