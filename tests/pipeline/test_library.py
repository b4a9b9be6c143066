"""``pipeline`` as a library: a plain Python script, with no Django settings, renders a two-scene
chain on the local model (the second scene from the first one's final latent) and scores it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json
import sys
from pathlib import Path

from pipeline.coherence.score import SceneClip, score_clips
from pipeline.providers import get_provider
from pipeline.providers.base import SceneRequest
from pipeline.providers.config import EngineConfig
from pipeline.providers.registry import LOCAL_MODEL, LOCAL_PROVIDER

work = Path(sys.argv[1])
config = EngineConfig(scratch_dir=work / "scratch")
provider = get_provider(LOCAL_PROVIDER, config)


def render(prompt, seed, latent=None):
    request = SceneRequest(
        model=LOCAL_MODEL, prompt=prompt, duration=1.0, seed=seed,
        width=128, height=72, fps=12, init_latent_path=latent,
    )
    submission = provider.submit(request)
    state = submission.finished or provider.fetch(submission.prediction_id)
    return provider.fetch_output(state, work)


first = render("a red fox running through a snowy forest at dusk", 7)
second = render("the fox reaches a frozen river", 8, latent=first.latent_path)
report = score_clips([
    SceneClip(index=0, path=first.video_path),
    SceneClip(index=1, path=second.video_path, continuous=True),
])
print(json.dumps({
    "clips": [str(first.video_path), str(second.video_path)],
    "accepts_latent": config.models.get(LOCAL_MODEL).accepts_latent,
    "score": report.score,
    "verdicts": [boundary.verdict for boundary in report.boundaries],
    "failed_handovers": len(report.failed_handovers),
    "imported": sorted(
        name for name in ("django", "coherence_project", "generations") if name in sys.modules
    ),
}))
"""


def test_a_plain_script_renders_a_continuous_scene_and_scores_it(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    script = tmp_path / "render_and_score.py"
    script.write_text(SCRIPT)

    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        cwd=tmp_path,  # not the repository: nothing is found by accident beside the script
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported"] == []  # no django, no project, no domain app
    assert result["accepts_latent"] is True
    assert all(Path(clip).stat().st_size > 0 for clip in result["clips"])
    assert result["verdicts"] == ["continuous"]  # the latent hand-over held across the boundary
    assert result["failed_handovers"] == 0
    assert 0.0 < result["score"] <= 1.0
