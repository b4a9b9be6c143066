from django.urls import path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.routers import SimpleRouter

from generations.api.media import GenerationFileView, SceneFileView
from generations.api.views import (
    GenerationViewSet,
    HealthView,
    SeedGenerationsView,
    api_not_found,
)
from generations.api.webhooks import ReplicateWebhookView

app_name = "api"

router = SimpleRouter()
router.register("generations", GenerationViewSet, basename="generation")

# Media by record (generations/api/media.py); with or without the trailing slash, since browsers
# and players are handed these URLs as they are.
GENERATION = (
    r"^generations/(?P<generation_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
SCENE_FILE = (
    r"/scenes/(?P<number>[0-9]{1,4})/(?P<kind>clip|last-frame|conditioning-frame|start-image)/?$"
)

urlpatterns = [
    re_path(
        GENERATION + r"/(?P<kind>video|reference-image|thumbnail)/?$",
        GenerationFileView.as_view(),
        name="generation-file",
    ),
    re_path(GENERATION + SCENE_FILE, SceneFileView.as_view(), name="scene-file"),
    *router.urls,
    path("seeds/<str:seed>/", SeedGenerationsView.as_view(), name="seed-generations"),
    path("health/", HealthView.as_view(), name="health"),
    path("webhooks/replicate/", ReplicateWebhookView.as_view(), name="replicate-webhook"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    # Last: any other /api/ path is a JSON 404 in the API's error shape.
    re_path(r"^", api_not_found),
]
