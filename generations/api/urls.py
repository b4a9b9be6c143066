from django.urls import path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.routers import SimpleRouter

from generations.api.media import (
    GenerationFileSlashView,
    GenerationFileView,
    SceneFileSlashView,
    SceneFileView,
)
from generations.api.views import (
    GenerationViewSet,
    HealthView,
    SeedGenerationsView,
    api_not_found,
)
from generations.api.webhook_secret import WebhookSecretView
from generations.api.webhooks import ReplicateWebhookView

app_name = "api"

router = SimpleRouter()
router.register("generations", GenerationViewSet, basename="generation")

# Media by record (generations/api/media.py). The URL has no trailing slash, as the `*_url` fields
# give it and the schema documents it; the form with one (documented before) still answers.
GENERATION = (
    r"^generations/(?P<generation_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
GENERATION_FILE = GENERATION + r"/(?P<kind>video|reference-image|thumbnail)"
SCENE_FILE = (
    GENERATION
    + r"/scenes/(?P<number>[0-9]{1,4})/(?P<kind>clip|last-frame|conditioning-frame|start-image)"
)

urlpatterns = [
    re_path(GENERATION_FILE + "$", GenerationFileView.as_view(), name="generation-file"),
    re_path(SCENE_FILE + "$", SceneFileView.as_view(), name="scene-file"),
    re_path(GENERATION_FILE + "/$", GenerationFileSlashView.as_view()),
    re_path(SCENE_FILE + "/$", SceneFileSlashView.as_view()),
    *router.urls,
    path("seeds/<str:seed>/", SeedGenerationsView.as_view(), name="seed-generations"),
    path("health/", HealthView.as_view(), name="health"),
    path("webhooks/replicate/", ReplicateWebhookView.as_view(), name="replicate-webhook"),
    path("webhook-secret/", WebhookSecretView.as_view(), name="webhook-secret"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    # Last: any other /api/ path is a JSON 404 in the API's error shape.
    re_path(r"^", api_not_found),
]
