"""What the integration tests assert about a deployment (bench/deployment.py) after a run."""

from __future__ import annotations

from bench.deployment import Deployment


def assert_rendered_once(deployment: Deployment, predictions: list[str]) -> None:
    """Each scene has its own prediction, and no other prediction was made: the local model's
    scratch is removed when its scene stores the outputs, so a second submission of a scene (or
    any prediction no scene took) would have left its scratch behind."""
    assert all(predictions) and len(set(predictions)) == len(predictions), predictions
    assert sorted(p.parent.name for p in deployment.scratch_dir.glob("*/prediction.json")) == []
