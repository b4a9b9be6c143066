"""Operator commands: generate, regenerate_with_seed and coherence_report, success and errors."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from generations.models import SEED_MAX, Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline import media

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_task_failures")]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), verbosity=0)
    return out.getvalue()


def video_path(generation: Generation) -> Path:
    generation.refresh_from_db()
    return media_file(generation.video.name)


def media_file(name: str) -> Path:
    from django.conf import settings

    return Path(settings.MEDIA_ROOT) / name


def newest() -> Generation:
    return Generation.objects.order_by("-created_at").first()


@pytest.fixture
def plan_file(tmp_path, plan) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"title": "From a file", "scenes": plan}))
    return path


# --- exit codes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "/nonexistent/plan.json"],
        ["regenerate_with_seed", "not-a-generation"],
        ["coherence_report", "not-a-generation"],
    ],
)
def test_a_failing_command_exits_non_zero_with_one_readable_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", *argv])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("CommandError: ")
    assert "\n" not in err
    assert "Traceback" not in err


# --- generate ------------------------------------------------------------------------------------


def test_generate_with_wait_runs_to_a_video(plan_file, media_root):
    out = run("generate", str(plan_file), "--wait", "--seed", "4242")
    generation = Generation.objects.get()
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.title == "From a file"
    assert f"generation: {generation.pk}" in out
    assert "status:     succeeded" in out
    assert "seed:       4242" in out
    assert video_path(generation).is_file()


def test_generate_without_wait_says_it_is_queued(plan_file, media_root):
    out = run("generate", str(plan_file))
    assert f"created generation {Generation.objects.get().pk} (4 scenes)" in out
    assert "queued: a running qcluster will pick it up" in out


def test_generate_switches_seed_control_and_latent_reuse_off(plan_file, media_root):
    out = run("generate", str(plan_file), "--wait", "--no-seed-control", "--no-latent-reuse")
    generation = Generation.objects.get()
    assert generation.render_settings["seed_control"] is False
    assert generation.render_settings["latent_reuse"] is False
    assert "seed:       none (seed control off)" in out


def test_generate_takes_a_bare_list_of_scenes(tmp_path, plan, media_root):
    path = tmp_path / "list.json"
    path.write_text(json.dumps(plan))
    run("generate", str(path), "--title", "Listed")
    assert Generation.objects.get().title == "Listed"


def test_generate_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match=r"Plan file .*missing\.json does not exist"):
        run("generate", str(tmp_path / "missing.json"))


def test_generate_refuses_bad_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"scenes": [')
    with pytest.raises(CommandError, match="is not valid JSON"):
        run("generate", str(path))
    assert Generation.objects.count() == 0


def test_generate_refuses_json_that_is_no_plan(tmp_path):
    path = tmp_path / "number.json"
    path.write_text("42")
    with pytest.raises(CommandError, match="must hold an object with 'scenes', or a list"):
        run("generate", str(path))


def test_generate_names_the_bad_field_of_a_bad_plan(tmp_path, plan):
    plan[2]["duration"] = -1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"scenes": plan}))
    with pytest.raises(CommandError, match=r"Invalid plan: scenes\.2\.duration: The duration"):
        run("generate", str(path))
    assert Generation.objects.count() == 0


@pytest.mark.parametrize("seed", ["-1", str(SEED_MAX + 1)])
def test_generate_refuses_a_seed_out_of_range(plan_file, seed):
    with pytest.raises(
        CommandError, match=rf"Invalid plan: seed: Seed must be between 0 and {SEED_MAX}"
    ):
        run("generate", str(plan_file), f"--seed={seed}")
    assert Generation.objects.count() == 0


def test_generate_refuses_an_unknown_model(plan_file):
    with pytest.raises(CommandError, match="Invalid plan: model: "):
        run("generate", str(plan_file), "--model", "nobody/nothing")


# --- regenerate_with_seed ------------------------------------------------------------------------


def test_regenerate_keeps_the_seed_and_links_the_source(finished):
    out = run("regenerate_with_seed", str(finished.pk), "--wait")
    new = newest()
    assert new.source_generation == finished
    assert new.seed == finished.seed
    assert new.status == Generation.Status.SUCCEEDED
    assert f"created generation {new.pk} (regenerating {finished.pk})" in out
    assert f"seed:       {finished.seed}" in out


def test_regenerate_with_a_given_seed(finished):
    seed = (finished.seed + 1) % SEED_MAX
    run("regenerate_with_seed", str(finished.pk), "--seed", str(seed), "--wait")
    assert newest().seed == seed


def test_regenerate_with_a_new_seed(finished):
    run("regenerate_with_seed", str(finished.pk), "--new-seed", "--wait")
    new = newest()
    assert new.seed is not None
    assert new.seed != finished.seed


def test_regenerate_without_wait_says_it_is_queued(finished):
    assert "queued: a running qcluster" in run("regenerate_with_seed", str(finished.pk))


def verify_rows(out: str) -> dict[str, list[str]]:
    """The --verify table: label -> [verdict, bytes, frames, ...]."""
    rows = {}
    for line in out.splitlines():
        if line.startswith(("scene ", "final video")):
            label, rest = (line[:12].strip(), line[12:].split())
            rows[label] = rest
    return rows


def test_verify_finds_the_local_model_deterministic_to_the_byte(finished):
    out = run("regenerate_with_seed", str(finished.pk), "--verify")
    rows = verify_rows(out)
    assert list(rows) == ["scene 1", "scene 2", "scene 3", "scene 4", "final video"]
    assert {tuple(row[:3]) for row in rows.values()} == {("identical", "same", "same")}
    assert "reproduced exactly: all 5 compared files are byte-identical" in out
    new = newest()
    assert media.sha256_file(video_path(new)) == media.sha256_file(video_path(finished))


def test_verify_says_when_the_frames_match_but_the_bytes_do_not(finished, tmp_path):
    # The original's final video muxed again with other metadata: same frames, other bytes.
    original = video_path(finished)
    remuxed = tmp_path / "remuxed.mp4"
    media.concat([original], remuxed, metadata={"note": "edited by hand"})
    shutil.copyfile(remuxed, original)
    out = run("regenerate_with_seed", str(finished.pk), "--verify")
    assert verify_rows(out)["final video"][:3] == ["identical", "diff", "same"]
    assert "same frames, other bytes: all 5 compared outputs are identical frame for frame, " in out
    assert "1 of them differ in bytes" in out


def test_verify_with_a_new_seed_reports_different_scenes(finished):
    out = run("regenerate_with_seed", str(finished.pk), "--new-seed", "--verify")
    scene_rows = [line for line in out.splitlines() if line.startswith("scene ")]
    assert len(scene_rows) == 4
    assert all(row.split()[2] == "different" for row in scene_rows)
    assert "not reproduced exactly: 0 of 5 identical, 5 different" in out


def test_from_video_replays_the_embedded_recipe(finished):
    out = run("regenerate_with_seed", "--from-video", str(video_path(finished)), "--wait")
    new = newest()
    assert new.pk != finished.pk
    assert new.source_generation == finished
    assert new.seed == finished.seed
    assert new.title == finished.title
    assert [s.prompt for s in new.scenes.all()] == [s.prompt for s in finished.scenes.all()]
    assert "status:     succeeded" in out


def test_from_video_works_when_the_source_is_gone_and_verifies_against_the_file(finished, tmp_path):
    # A downloaded copy: deleting the generation deletes its own files (after the commit).
    path = tmp_path / "downloaded.mp4"
    shutil.copyfile(video_path(finished), path)
    Generation.objects.filter(pk=finished.pk).delete()
    out = run("regenerate_with_seed", "--from-video", str(path), "--verify")
    new = newest()
    assert new.source_generation is None
    assert new.seed == finished.seed
    assert f"against {path}" in out
    assert verify_rows(out)["final video"][:2] == ["identical", "same"]
    assert "reproduced exactly: all 1 compared files are byte-identical" in out


def test_regenerate_refuses_an_unknown_generation():
    with pytest.raises(CommandError, match="No generation with id 'nope'"):
        run("regenerate_with_seed", "nope")


@pytest.mark.parametrize("extra", [[], ["some-id", "--from-video", "v.mp4"]])
def test_regenerate_needs_exactly_one_source(extra):
    with pytest.raises(CommandError, match="Give either a GENERATION_ID or --from-video"):
        run("regenerate_with_seed", *extra)


def test_regenerate_refuses_seed_and_new_seed_together(finished):
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("regenerate_with_seed", str(finished.pk), "--seed", "1", "--new-seed")


def test_regenerate_refuses_a_seed_out_of_range(finished):
    with pytest.raises(CommandError, match=r"Cannot regenerate: seed: Seed must be between"):
        run("regenerate_with_seed", str(finished.pk), "--seed", str(SEED_MAX + 1))
    assert Generation.objects.count() == 1


def test_regenerate_refuses_a_seed_when_seed_control_is_off(plan, media_root):
    source = create_generation(
        GenerationRequest(scenes=plan, coherence_settings={"seed_control": False}), enqueue=False
    )
    with pytest.raises(CommandError, match="seed: A seed was given but seed control is off"):
        run("regenerate_with_seed", str(source.pk), "--seed", "5")


def test_regenerate_reports_a_model_that_no_longer_exists(finished):
    Generation.objects.filter(pk=finished.pk).update(model="retired/model")
    with pytest.raises(CommandError, match=r"Cannot regenerate: model: .*retired/model"):
        run("regenerate_with_seed", str(finished.pk))


def test_from_video_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match=r"Cannot regenerate: video: .*file does not exist"):
        run("regenerate_with_seed", "--from-video", str(tmp_path / "gone.mp4"))


def test_from_video_refuses_a_video_without_a_recipe(finished):
    clip = media_file(finished.scenes.first().clip.name)
    with pytest.raises(CommandError, match="carries no coherence recipe"):
        run("regenerate_with_seed", "--from-video", str(clip))


def test_from_video_refuses_a_recipe_that_is_not_json(tmp_path, finished):
    path = tmp_path / "odd.mp4"
    frames = media.sample_frames(video_path(finished), 2)
    media.encode(frames, path, fps=12, metadata={"coherence_recipe": "{not json"})
    with pytest.raises(CommandError, match="its coherence recipe is not valid JSON"):
        run("regenerate_with_seed", "--from-video", str(path))


def test_from_video_refuses_a_recipe_with_a_bad_plan(tmp_path, finished):
    path = tmp_path / "bad-plan.mp4"
    frames = media.sample_frames(video_path(finished), 2)
    recipe = {"scenes": [{"prompt": "", "duration": 1.0, "continuous": False}], "seed": 3}
    media.encode(frames, path, fps=12, metadata={"coherence_recipe": json.dumps(recipe)})
    with pytest.raises(CommandError, match=r"scenes\.0\.prompt: The prompt must be"):
        run("regenerate_with_seed", "--from-video", str(path))


# --- coherence_report ----------------------------------------------------------------------------


def test_coherence_report_prints_the_table(finished):
    out = run("coherence_report", str(finished.pk))
    assert f"generation: {finished.pk}  Fox and lake" in out
    assert "style~first" in out
    assert "continuous" in out
    assert f"score {finished.coherence_score:.3f}" in out


def test_coherence_report_prints_json(finished):
    assert json.loads(run("coherence_report", str(finished.pk), "--json")) == (
        finished.coherence_report
    )


def test_coherence_report_writes_the_picture(finished, tmp_path):
    png = tmp_path / "charts" / "report.png"
    run("coherence_report", str(finished.pk), "--png", str(png))
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_coherence_report_refuses_a_generation_without_a_report(queued):
    with pytest.raises(CommandError, match="has no coherence report yet \\(it is queued\\)"):
        run("coherence_report", str(queued.pk))


def test_coherence_report_reports_an_unwritable_picture_path(finished, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(CommandError, match="Cannot write"):
        run("coherence_report", str(finished.pk), "--png", str(blocker / "report.png"))
