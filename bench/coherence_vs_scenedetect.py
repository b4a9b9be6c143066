"""Our cut detection against PySceneDetect's detectors, on the labelled real footage.

Not a project dependency: install ``scenedetect`` and ``opencv-python-headless`` somewhere on the
path to run it (the figures are in docs/coherence-score.md).

    python -m bench.coherence_vs_scenedetect
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import coherence_footage as footage
from pipeline.coherence.score import score_video


def _detectors() -> dict[str, Callable[[], Any]]:
    from scenedetect import AdaptiveDetector, ContentDetector, HistogramDetector

    return {
        "content": lambda: ContentDetector(min_scene_len=2),
        "adaptive": lambda: AdaptiveDetector(min_scene_len=2),
        "histogram": lambda: HistogramDetector(min_scene_len=2),
    }


def _their_cuts(path: Path, make: Callable[[], Any]) -> list[int]:
    from scenedetect import detect

    return [start.get_frames() for start, _ in detect(str(path), make(), show_progress=False)[1:]]


def _tally(got: list[int], at: int) -> tuple[int, int]:
    hits = [g for g in got if abs(g - at) <= 1]
    return int(bool(hits)), len(got) - len(hits)


def internal(out: Path, count: int = 40) -> dict[str, list[int]]:
    """Cuts inside one clip: [found, extra] per detector, ours included."""
    rng = random.Random(101)
    result: dict[str, list[int]] = {name: [0, 0] for name in [*_detectors(), "ours"]}
    for i in range(count):
        case = footage.internal_cut_case(rng)
        path = case.encode(out, f"i{i}")[0]
        at = round(case.internal_cuts[0] * case.fps)
        ours = [round(t * case.fps) for t in score_video([path]).scenes[0].internal_cuts]
        for name, got in [
            ("ours", ours),
            *((n, _their_cuts(path, d)) for n, d in _detectors().items()),
        ]:
            found, extra = _tally(got, at)
            result[name][0] += found
            result[name][1] += extra
    return result


def boundaries(out: Path) -> dict[str, list[int]]:
    """Each labelled boundary joined into one clip: [cuts found, continuous called cut]."""
    result = {name: [0, 0] for name in _detectors()}
    for seed in (1, 2, 3):
        for j, case in enumerate(footage.labelled_boundaries(seed, 10)):
            joined = footage.Case("joined", [case.scenes[0] + case.scenes[1]], case.fps)
            path = joined.encode(out, f"j{seed}-{j}")[0]
            for name, make in _detectors().items():
                found, _ = _tally(_their_cuts(path, make), len(case.scenes[0]))
                result[name][1 if case.continuous else 0] += found
    return result


def main() -> int:
    out = Path(tempfile.mkdtemp(prefix="coherence-vs-scenedetect-"))
    print("cuts inside scenes (40): [found, extra]", internal(out))
    print(
        "150 boundaries (60 cuts, 90 continuous): [cuts found, continuous called cut]",
        boundaries(out),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
