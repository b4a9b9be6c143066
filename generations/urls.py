from django.urls import path

from generations.staff import views

app_name = "generations"

urlpatterns = [
    path("generations/<uuid:generation_id>/", views.generation_detail, name="detail"),
    path(
        "generations/<uuid:generation_id>/progress.json",
        views.generation_progress,
        name="progress",
    ),
]
