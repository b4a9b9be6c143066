"""Operator commands for hosted models: generate --dry-run, refusals with exit 2, sync_models."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command, execute_from_command_line

from generations.models import Generation, HostedModelSchema
from pipeline.providers.registry import MINIMAX_VIDEO_01, SEEDANCE_LITE, WAN_I2V_FAST
from tests.support.frames import write_frame_png

pytestmark = [pytest.mark.django_db(transaction=True)]

THREE_SCENES = [
    {"prompt": "a red fox runs through snow", "duration": 5.0},
    {"prompt": "the fox leaps over a log", "duration": 5.0, "continuous": True},
    {"prompt": "a quiet lake at dawn", "duration": 3.0},
]


def plan_file(tmp_path: Path, model: str, **extra) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps({"provider": "replicate", "model": model, "scenes": THREE_SCENES, **extra})
    )
    return path


def test_dry_run_prints_each_scene_and_the_total_and_creates_nothing(tmp_path, server):
    out = StringIO()

    call_command("generate", str(plan_file(tmp_path, SEEDANCE_LITE)), "--dry-run", stdout=out)

    lines = out.getvalue().splitlines()
    # House size 512x288 asks seedance for 480p: $0.018 per second of output.
    assert "scene 1: 5 s planned, 5 s rendered, $0.0900" in lines
    assert "scene 3: 3 s planned, 3 s rendered, $0.0540" in lines
    assert "total: $0.2340 (cap $5.00)" in lines
    assert lines[-1] == "dry run: nothing was created"
    assert Generation.objects.count() == 0
    assert server.prediction_ids() == []


def test_dry_run_shows_what_a_fixed_length_model_bills_and_its_seed_warning(tmp_path, server):
    out = StringIO()

    call_command("generate", str(plan_file(tmp_path, MINIMAX_VIDEO_01)), "--dry-run", stdout=out)

    text = out.getvalue()
    assert "scene 3: 3 s planned, 6 s rendered, $0.5000" in text
    assert "total: $1.5000" in text
    assert f"warning: Seed not applied: model {MINIMAX_VIDEO_01} has no seed input" in text


def test_a_plan_missing_a_required_image_exits_2_with_one_line(tmp_path, server, capsys):
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "generate", str(plan_file(tmp_path, WAN_I2V_FAST))])

    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("CommandError: Invalid plan: scenes.0.image: Scene 1: model ")
    assert "\n" not in err
    assert Generation.objects.count() == 0
    assert server.prediction_ids() == []


def test_a_reference_image_file_settles_the_required_input(tmp_path, server):
    image = write_frame_png(tmp_path / "start.png")
    out = StringIO()

    call_command(
        "generate",
        str(plan_file(tmp_path, WAN_I2V_FAST)),
        "--dry-run",
        "--reference-image",
        str(image),
        stdout=out,
    )

    assert "total: $0.1500 (cap $5.00)" in out.getvalue()  # three clips at $0.05


def test_sync_models_exits_1_when_the_registry_disagrees(server, capsys):
    server.seedless_models = {SEEDANCE_LITE}

    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "sync_models", SEEDANCE_LITE])

    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "seed: the registry uses it, the schema does not declare it" in captured.out
    assert HostedModelSchema.objects.get(model=SEEDANCE_LITE).disagreements


def test_sync_models_refuses_an_unknown_model_with_exit_2(server, capsys):
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "sync_models", "nobody/nothing"])

    assert exited.value.code == 2
    assert "Unknown model 'nobody/nothing'" in capsys.readouterr().err
