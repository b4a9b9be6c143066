from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("generations.api.urls")),
    path("", include("generations.urls")),
]

# Media is served by record, never by path: /api/generations/<id>/video and
# /api/generations/<id>/scenes/<n>/<clip|last-frame|conditioning-frame> (generations/api/media.py).
# There is deliberately no /media/<path> route.
handler500 = "generations.api.errors.server_error"
