"""``manage.py score_video``: any footage scored with no generation and no plan."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from bench import coherence_footage as footage
from pipeline.coherence.score import VERSION, score_video

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three scenes: a pan split in two (continuous), then a cut to another photo."""
    out = tmp_path_factory.mktemp("score-video")
    rng = random.Random(7)
    pan = footage.continuous_case(rng, "pan")
    size = pan.scenes[0][0].shape[1::-1]
    other = footage.render_move(footage.Move("coffee", 0.5, 0.5, 0.5, 0.01), 8, size)
    case = footage.Case("pan+cut", [*pan.scenes, other], pan.fps)
    return case.encode(out, "scene")


def run(*args: str) -> str:
    out = StringIO()
    call_command("score_video", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_json_has_score_boundaries_scenes_and_version(clips):
    data = json.loads(run(*map(str, clips), "--json"))
    assert 0.0 <= data["score"] <= 1.0
    assert data["version"] == VERSION == "coherence-v2"
    assert [b["verdict"] for b in data["boundaries"]] == ["continuous", "cut"]
    assert all(0.0 <= b["continuity"] <= 1.0 for b in data["boundaries"])
    assert [b["failed_handover"] for b in data["boundaries"]] == [False, False]  # no plan
    assert len(data["scenes"]) == 3
    assert all(0.0 <= s["stability"] <= 1.0 for s in data["scenes"])
    assert all(s["internal_cuts"] == [] for s in data["scenes"])


def test_same_code_path_as_generations(clips):
    assert json.loads(run(*map(str, clips), "--json")) == score_video(clips).to_dict()


def test_table_and_png(clips, tmp_path):
    png = tmp_path / "report.png"
    table = run(*map(str, clips), "--png", str(png))
    assert "score " in table and "continuous" in table and "cut" in table
    with Image.open(png) as image:
        assert image.format == "PNG"


def test_a_missing_clip_is_a_readable_error(clips, tmp_path):
    with pytest.raises(CommandError, match="scene 2: clip not found"):
        run(str(clips[0]), str(tmp_path / "nope.mp4"))


def test_a_file_that_is_not_a_video_is_a_readable_error(clips, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    with pytest.raises(CommandError, match="scene 2: cannot read clip"):
        run(str(clips[0]), str(junk))


def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "score_video", str(tmp_path / "missing.mp4")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "clip not found" in result.stderr
