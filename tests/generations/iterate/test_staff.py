"""The staff surfaces: the ranked variations grid (staff page, admin), choosing from it, the
"Re-render one scene" admin action with its form, and "Finalize preview"."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin import helpers

from generations.iterate.variations import create_with_variations, measured, ranked_variations
from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from tests.generations.iterate.conftest import predictions

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]

CHANGELIST = "/admin/generations/generation/"


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def parent(plan, media_root, staff_user) -> Generation:
    return create_with_variations(GenerationRequest(variations=3, scenes=plan), owner=staff_user)


def ranks_on_page(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-variation="(\d+)"', html)]


def test_the_grid_is_ranked_by_score_on_the_staff_page_and_in_the_admin(staff_client, parent):
    expected = [v.variation_number for v in ranked_variations(parent)]
    staff_page = staff_client.get(f"/generations/{parent.pk}/").content.decode()
    admin_page = staff_client.get(f"{CHANGELIST}{parent.pk}/change/").content.decode()
    for html in (staff_page, admin_page):
        assert ranks_on_page(html) == expected
        assert html.count('/thumbnail"') == 3  # media by record: /api/generations/<id>/thumbnail
        assert "Choose variation" in html
        # Each card's noise with the digits that rank it (a clean clip's is a few thousandths).
        shown = [float(n) for n in re.findall(r"noise ([0-9.e+-]+)", html)]
        noise = [measured(v.coherence_report, "noise") for v in ranked_variations(parent)]
        assert shown == pytest.approx(noise, rel=1e-3)
        assert 0 not in shown


def test_choosing_from_the_admin_starts_the_full_generation(staff_client, parent):
    best = ranked_variations(parent)[0]
    url = f"{CHANGELIST}{parent.pk}/variations/{best.variation_number}/choose/"
    assert staff_client.get(url).status_code == 405  # paid work never starts on a GET
    response = staff_client.post(url)
    assert response.status_code == 302
    parent.refresh_from_db()
    assert (parent.status, parent.seed) == ("succeeded", best.seed)


def test_staff_without_change_permission_cannot_choose(client, django_user_model, parent):
    viewer = django_user_model.objects.create_user(username="v", password="pw", is_staff=True)
    client.force_login(viewer)
    response = client.post(f"{CHANGELIST}{parent.pk}/variations/1/choose/")
    assert response.status_code in (403, 404)
    parent.refresh_from_db()
    assert parent.status == Generation.Status.AWAITING_CHOICE


def test_the_rerender_action_shows_a_form_then_rerenders(staff_client, original, media_root):
    selected = {"action": "rerender_one_scene", helpers.ACTION_CHECKBOX_NAME: [str(original.pk)]}
    form = staff_client.post(CHANGELIST, selected)
    assert form.status_code == 200
    assert b"Re-render one scene" in form.content and b"rerender-plan" in form.content
    before = predictions()
    done = staff_client.post(CHANGELIST, {**selected, "apply": "1", "scene": "3"}, follow=True)
    assert b"Re-rendering scene 3" in done.content
    assert len(predictions() - before) == 2
    new = Generation.objects.get(source_generation=original)
    assert new.status == Generation.Status.SUCCEEDED, new.error
    bad = staff_client.post(CHANGELIST, {**selected, "apply": "1", "scene": "9"})
    assert b"run from 1 to 4" in bad.content


def test_the_finalize_action(staff_client, plan, media_root):
    preview = create_generation(GenerationRequest(scenes=plan, quality="preview"))
    selected = {"action": "finalize_previews", helpers.ACTION_CHECKBOX_NAME: [str(preview.pk)]}
    page = staff_client.post(CHANGELIST, selected, follow=True)
    assert b"Finalizing" in page.content
    final = Generation.objects.get(source_generation=preview)
    assert (final.quality, final.status) == ("full", "succeeded")
    before = predictions()
    again = staff_client.post(CHANGELIST, selected, follow=True)
    assert b"was finalized already" in again.content
    assert str(final.pk).encode() in again.content
    assert Generation.objects.filter(source_generation=preview).get() == final
    assert predictions() == before
