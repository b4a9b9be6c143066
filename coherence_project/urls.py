from django.contrib import admin
from django.urls import include, path, re_path

from coherence_project.conf import config
from generations.api.media import MediaView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("generations.api.urls")),
    path("", include("generations.urls")),
]

if config.SERVE_MEDIA:
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", MediaView.as_view(), name="media")]
