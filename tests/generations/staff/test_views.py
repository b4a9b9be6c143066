"""The staff generation page and its progress endpoint."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from generations.models import Generation, Scene
from generations.staff.views import build_timeline

pytestmark = pytest.mark.django_db(transaction=True)


def page_url(generation: Generation) -> str:
    return reverse("generations:detail", args=[generation.pk])


def progress_url(generation: Generation) -> str:
    return reverse("generations:progress", args=[generation.pk])


def test_the_page_shows_the_final_video_seed_recipe_and_coherence_picture(staff_client, finished):
    html = staff_client.get(page_url(finished)).content.decode()
    video = f"/api/generations/{finished.pk}/video"
    assert f'<video id="final-video" controls preload="auto" src="{video}">' in html
    assert f'<dd class="seed" id="seed">{finished.seed}</dd>' in html
    assert "&quot;seed&quot;: " + str(finished.seed) in html  # in the recipe JSON
    assert "<svg" in html


def test_the_page_puts_every_scene_clip_on_the_timeline_with_boundary_markers(
    staff_client, finished
):
    html = staff_client.get(page_url(finished)).content.decode()
    for scene in finished.scenes.all():
        assert f'src="/api/generations/{finished.pk}/scenes/{scene.number}/clip"' in html
    assert html.count('style="width: 25.000%"') == 4
    assert html.count('class="marker continuous"') == 2
    assert html.count('class="marker cut"') == 1


def test_a_finished_page_does_not_poll(staff_client, finished):
    assert "progress.json" not in staff_client.get(page_url(finished)).content.decode()


def test_a_running_page_polls_the_progress_endpoint(staff_client, queued):
    html = staff_client.get(page_url(queued)).content.decode()
    assert f'data-url="{progress_url(queued)}"' in html
    assert "fetch(box.dataset.url" in html


def test_the_progress_endpoint_reports_status_stage_and_progress(staff_client, queued):
    Generation.objects.filter(pk=queued.pk).update(
        status=Generation.Status.RUNNING, stage="rendering scenes (1/4 done)", progress=26
    )
    data = staff_client.get(progress_url(queued)).json()
    assert data == {
        "id": str(queued.pk),
        "status": "running",
        "stage": "rendering scenes (1/4 done)",
        "progress": 26,
        "terminal": False,
        "seed": None,
        "video": None,
        "error": "",
    }


def test_the_progress_endpoint_gives_the_video_once_finished(staff_client, finished):
    data = staff_client.get(progress_url(finished)).json()
    assert data["terminal"] is True
    assert data["video"] == f"/api/generations/{finished.pk}/video"
    assert data["seed"] == finished.seed


@pytest.mark.parametrize("url_name", ["generations:detail", "generations:progress"])
def test_non_staff_are_sent_to_the_login(client, user, queued, url_name):
    client.force_login(user)
    response = client.get(reverse(url_name, args=[queued.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("url_name", ["generations:detail", "generations:progress"])
def test_an_unknown_generation_is_a_404(staff_client, url_name):
    assert staff_client.get(reverse(url_name, args=[uuid.uuid4()])).status_code == 404


# --- the timeline, without a database ------------------------------------------------------------


def test_timeline_widths_are_proportional_to_scene_durations():
    generation = Generation(coherence_report=None)
    scenes = [
        Scene(index=0, duration=1.0, continuous=False),
        Scene(index=1, duration=3.0, continuous=True),
    ]
    assert [item.width_percent for item in build_timeline(generation, scenes)] == [25.0, 75.0]


def test_timeline_markers_carry_the_reports_continuity_at_each_boundary():
    generation = Generation(
        coherence_report={
            "boundaries": [
                {"from_index": 0, "to_index": 1, "continuous": True, "continuity": 0.97},
                {"from_index": 1, "to_index": 2, "continuous": False, "continuity": 0.41},
            ]
        }
    )
    scenes = [
        Scene(index=0, duration=1.0, continuous=False),
        Scene(index=1, duration=1.0, continuous=True),
        Scene(index=2, duration=1.0, continuous=False),
    ]
    markers = [
        (item.boundary_kind, item.boundary_continuity)
        for item in build_timeline(generation, scenes)
    ]
    assert markers == [(None, None), ("continuous", 0.97), ("cut", 0.41)]


def test_timeline_flags_a_failed_handover():
    generation = Generation(
        coherence_report={
            "boundaries": [
                {
                    "from_index": 0,
                    "to_index": 1,
                    "continuous": True,
                    "continuity": 0.05,
                    "verdict": "cut",
                    "failed_handover": True,
                },
            ]
        }
    )
    scenes = [
        Scene(index=0, duration=1.0, continuous=False),
        Scene(index=1, duration=1.0, continuous=True),
    ]
    assert [item.failed_handover for item in build_timeline(generation, scenes)] == [False, True]


def test_the_page_shows_a_failed_handover(staff_client, finished):
    report = dict(finished.coherence_report)
    report["boundaries"] = [dict(b) for b in report["boundaries"]]
    report["boundaries"][0].update(failed_handover=True, verdict="cut")
    Generation.objects.filter(pk=finished.pk).update(coherence_report=report)
    html = staff_client.get(page_url(finished)).content.decode()
    assert html.count('class="flag failed-handover"') == 1
