"""Media by record: every traversal variant is a 404 and leaks nothing; the owner's access is
unchanged; what may be served is exactly what the row's fields name."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from generations.models import Generation
from tests.support.api import client_for

pytestmark = pytest.mark.django_db


def content(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def traversal_probes(mine: Generation, theirs: Generation) -> list[str]:
    a, b = mine.pk, theirs.pk
    video = f"generations/{b}/video.mp4"
    return [
        # the old /media/ route and every way of climbing out of one's own folder
        f"/media/{video}",
        f"/media/generations/{a}/../{b}/video.mp4",
        f"/media/generations/{a}/%2e%2e/{b}/video.mp4",
        f"/media/generations/{a}/%2E%2E/{b}/video.mp4",
        f"/media/generations/{a}/%252e%252e/{b}/video.mp4",
        f"/media/generations/{a}/..%2f{b}/video.mp4",
        f"/media/generations/{a}/..%252f{b}/video.mp4",
        f"/media/generations/{a}/..\\{b}\\video.mp4",
        f"/media/generations/{a}/..%5c{b}%5cvideo.mp4",
        f"/media/generations/{a}/%5c..%5c{b}/video.mp4",
        f"/media/generations/{a}/scenes/../../{b}/video.mp4",
        "/media/local-predictions/",
        "/media/../../../../etc/passwd",
        "/media//etc/passwd",
        "/media/%2fetc%2fpasswd",
        "/media/C:\\Windows\\win.ini",
        # the record endpoints: nothing but the named row's own fields can be reached
        f"/api/generations/{b}/video",
        f"/api/generations/{b}/video/",
        f"/api/generations/{b}/scenes/1/clip",
        f"/api/generations/{b}/scenes/1/last-frame",
        f"/api/generations/{a}/video/../../{b}/video",
        f"/api/generations/{a}/video/..%2f..%2f{b}%2fvideo",
        f"/api/generations/{a}/scenes/../../{b}/video",
        f"/api/generations/{a}/scenes/1/../../../{b}/video",
        f"/api/generations/{a}/scenes/%2e%2e/%2e%2e/{b}/video",
        f"/api/generations/{a}/scenes/1/clip/..%5c..%5c{b}",
        f"/api/generations/{a}/scenes/1/clip%00",
        f"/api/generations/{a}/%252e%252e/{b}/video",
        f"/api/generations/{a}/..\\{b}/video",
        f"/api/generations/{str(b).upper()}/video",
        f"/api/generations/{a}/scenes/0/clip",
        f"/api/generations/{a}/scenes/-1/clip",
        f"/api/generations/{a}/scenes/3/clip",
        f"/api/generations/{a}/scenes/1/latent",
        f"/api/generations/{a}/scenes/1/final-latent",
        f"/api/generations/{a}/scenes/1/final_latent",
        f"/api/generations/{a}/scenes/1/{video}",
        f"/api/generations/{a}/video/{video}",
        f"/api/generations/{a}//{video}",
        "/api/generations/%2e%2e/video",
        f"/api/generations/{a}/local-predictions/x/prediction.json",
    ]


def test_every_traversal_variant_is_a_404_that_leaks_nothing(api, mine, theirs, media_root):
    scratch = media_root / "local-predictions" / "local-0123"
    scratch.mkdir(parents=True)
    (scratch / "prediction.json").write_text('{"input": {"prompt": "MALLORY-SECRET prompt"}}')
    for probe in traversal_probes(mine, theirs):
        response = api.get(probe)
        body = content(response)
        assert response.status_code == 404, probe
        assert b"MALLORY-SECRET" not in body, probe
        assert str(media_root).encode() not in body, probe  # no path in any error page
    # nothing lost: every file of both generations is still there
    for generation in (mine, theirs):
        assert generation.video.storage.exists(generation.video.name)


def test_the_owner_gets_every_file_of_their_own_generation(api, mine):
    video = api.get(f"/api/generations/{mine.pk}/video")
    assert video.status_code == 200
    assert video["Content-Type"] == "video/mp4"
    assert content(video) == b"ADA-SECRET-video"
    assert api.get(f"/api/generations/{mine.pk}/video/").status_code == 200
    for scene in mine.scenes.all():
        base = f"/api/generations/{mine.pk}/scenes/{scene.number}"
        assert content(api.get(f"{base}/clip")) == b"ADA-SECRET-clip"
        frame = api.get(f"{base}/last-frame")
        assert (frame["Content-Type"], content(frame)) == ("image/png", b"ADA-SECRET-frame")


def test_a_client_that_asks_for_the_files_type_gets_the_file(api, mine):
    """An Accept naming the documented type (as a generated client or a <video> tag sends it)
    is no 406; the form with a trailing slash, which the schema once gave, still serves."""
    base = f"/api/generations/{mine.pk}"
    video = api.get(f"{base}/video", HTTP_ACCEPT="video/mp4")
    assert (video.status_code, video["Content-Type"]) == (200, "video/mp4")
    frame = api.get(f"{base}/scenes/1/last-frame/", HTTP_ACCEPT="image/png")
    assert (frame.status_code, content(frame)) == (200, b"ADA-SECRET-frame")
    missing = api.get(f"{base}/scenes/9/clip", HTTP_ACCEPT="video/mp4")
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/json")


def test_the_links_the_api_gives_are_the_ones_that_serve(api, mine):
    body = api.get(f"/api/generations/{mine.pk}/").json()
    assert content(api.get(body["video_url"])) == b"ADA-SECRET-video"
    for scene in body["scenes"]:
        assert content(api.get(scene["clip_url"])) == b"ADA-SECRET-clip"
        assert scene["conditioning_frame_url"] is None


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 401),
        ("other", 404),
        ("staff_none", 404),
        ("staff_view", 200),
        ("staff_change", 200),
        ("superuser", 200),
    ],
)
def test_who_gets_a_generations_files(clients, mine, role, expected):
    client = clients[role]
    assert client.get(f"/api/generations/{mine.pk}/video").status_code == expected
    assert client.get(f"/api/generations/{mine.pk}/scenes/1/clip").status_code == expected


def test_session_auth_serves_the_owner_too(client, user, mine):
    client.force_login(user)
    assert client.get(f"/api/generations/{mine.pk}/video").status_code == 200


def test_a_row_naming_a_missing_file_is_a_404_not_a_500(api, mine):
    mine.video.storage.delete(mine.video.name)
    response = api.get(f"/api/generations/{mine.pk}/video")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such file among your generations."}


def test_a_tampered_name_in_a_row_is_never_opened(api, mine, theirs):
    # Defence in depth: even a row whose field climbs out (it cannot be written through the API)
    # is refused instead of followed.
    Generation.objects.filter(pk=mine.pk).update(
        video=f"generations/{mine.pk}/../{theirs.pk}/video.mp4"
    )
    response = api.get(f"/api/generations/{mine.pk}/video")
    assert response.status_code == 404
    assert b"MALLORY" not in content(response)


def test_files_of_a_deleted_generation_are_gone_with_it(
    api, mine, django_capture_on_commit_callbacks
):
    name = mine.video.name
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/generations/{mine.pk}/").status_code == 204
    assert api.get(f"/api/generations/{mine.pk}/video").status_code == 404
    assert not mine.video.storage.exists(name)


def test_x_accel_redirect_hands_the_checked_file_to_nginx(api, other_api, mine, settings):
    settings.COHERENCE = {**settings.COHERENCE, "MEDIA_SENDFILE": "x-accel-redirect"}
    response = api.get(f"/api/generations/{mine.pk}/video")
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected-media/{mine.video.name}"
    assert response.content == b""
    refused = other_api.get(f"/api/generations/{mine.pk}/video")
    assert refused.status_code == 404 and not refused.has_header("X-Accel-Redirect")


def test_x_sendfile_names_the_file_under_the_configured_root(api, mine, settings):
    settings.COHERENCE = {
        **settings.COHERENCE,
        "MEDIA_SENDFILE": "x-sendfile",
        "MEDIA_SENDFILE_PREFIX": "/srv/media",
    }
    response = api.get(f"/api/generations/{mine.pk}/scenes/2/clip")
    assert response["X-Sendfile"] == f"/srv/media/{mine.scenes.get(index=1).clip.name}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_task_failures")
def test_a_rendered_generation_is_served_to_its_owner_only(user, plan, media_root, roles):
    owner, other = client_for(user), client_for(roles["other"])
    created = owner.post("/api/generations/", {"scenes": plan[:2]}, format="json").json()
    body = owner.get(f"/api/generations/{created['id']}/").json()
    assert body["status"] == "succeeded"
    video = owner.get(body["video_url"])
    assert video.status_code == 200
    assert content(video)[4:8] == b"ftyp"  # an mp4
    assert other.get(body["video_url"]).status_code == 404
    assert APIClient().get(body["video_url"]).status_code == 401
    # the local model's scratch (it holds the prompts) went when each scene completed
    assert not any((media_root / "local-predictions").glob("local-*"))
