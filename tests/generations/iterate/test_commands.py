"""The operator commands: rerender_scene, finalize_preview, variations, generate --preview."""

from __future__ import annotations

import io
import json
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command

from generations.iterate.variations import measured
from generations.models import Generation
from tests.generations.iterate.conftest import predictions

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_rerender_scene_estimates_then_renders(original, media_root):
    before = predictions()
    estimate = run("rerender_scene", str(original.pk), "3", "--estimate")
    assert "renders scene(s) 3, 4; reuses scene(s) 1, 2; estimated cost $0.0000" in estimate
    assert Generation.objects.count() == 1 and predictions() == before
    output = run("rerender_scene", str(original.pk), "3", "--prompt", "a stormy lake", "--wait")
    assert "status:     succeeded" in output
    assert len(predictions() - before) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["7"], "Scene numbers of this generation run from 1 to 4"),
        (["1", "--duration", "99"], "duration"),
        (["1", "--seed", "-1"], "Seed must be between"),
    ],
)
def test_rerender_scene_refuses_bad_input_in_one_line(original, args, message):
    with pytest.raises(CommandError, match=message):
        run("rerender_scene", str(original.pk), *args)


def test_rerender_scene_of_an_unknown_generation(db):
    with pytest.raises(CommandError, match="No generation with id"):
        run("rerender_scene", "not-a-uuid", "1")


def test_preview_finalize_and_variations_from_the_command_line(plan, media_root, tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({"title": "Fox", "scenes": plan}))
    run("generate", str(plan_file), "--preview")
    preview = Generation.objects.get()
    assert (preview.quality, preview.status) == ("preview", "succeeded")
    assert "estimated cost at full quality: $0.0000" in run(
        "finalize_preview", str(preview.pk), "--estimate"
    )
    assert "status:     succeeded" in run("finalize_preview", str(preview.pk), "--wait")
    final = Generation.objects.get(finalized_from=preview)
    assert f"already finalized as generation {final.pk}: nothing new started" in run(
        "finalize_preview", str(preview.pk)
    )
    assert Generation.objects.filter(quality="full").count() == 1
    run("generate", str(plan_file), "--variations", "2")
    parent = Generation.objects.get(status=Generation.Status.AWAITING_CHOICE)
    ranking = run("variations", str(parent.pk))
    assert "rank   k        seed   score      noise  status" in ranking
    assert "status:     succeeded" in run("variations", str(parent.pk), "--choose", "2", "--wait")
    assert "<- chosen" in run("variations", str(parent.pk))
    with pytest.raises(CommandError, match="awaiting its choice"):
        run("variations", str(parent.pk), "--choose", "1")


def test_variations_shows_noise_with_the_digits_that_rank_them(plan, media_root, tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({"title": "Fox", "scenes": plan}))
    run("generate", str(plan_file), "--variations", "3")
    parent = Generation.objects.get(status=Generation.Status.AWAITING_CHOICE)
    lines = run("variations", str(parent.pk)).splitlines()[2:]
    rows = [line.split() for line in lines]  # rank k seed score noise status
    assert len(rows) == 3
    by_number = {v.variation_number: v for v in parent.variations.all()}
    shown = [(float(row[3]), float(row[4])) for row in rows]
    for row, (_, noise) in zip(rows, shown, strict=True):
        measured_noise = measured(by_number[int(row[1])].coherence_report, "noise")
        assert 0 < measured_noise < 0.01  # what a clean clip measures: 0.00 at two decimals
        assert noise == pytest.approx(measured_noise, rel=1e-3)  # 4 significant digits
    # Each variation shows its own value, and tied scores are listed lowest noise first.
    assert len({noise for _, noise in shown}) == 3
    for (score_a, noise_a), (score_b, noise_b) in pairwise(shown):
        assert score_a > score_b or noise_a <= noise_b
