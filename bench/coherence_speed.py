"""Speed of the coherence score: CPU seconds per second of video, and that it stays linear.

Renders four-scene videos on the local model (256x144 at 24 fps, the ablation's format, plus
one 640x360 video) with scenes of 1, 2, 4 and 8 s, scores each with ``score_clips`` and prints
the CPU time (``time.process_time``: one core, not disturbed by other processes' load) per second
of video, next to a baseline measured in the same process: decoding every frame to RGB, which
no scorer of every frame can avoid. The budget is 0.06 s per second of video.

    python -m bench.coherence_speed [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline import localmodel, media
from pipeline.coherence.score import SceneClip, score_clips

BUDGET = 0.06  # s of CPU per s of video (issue 16)
PROMPTS = ("a red fox runs through fresh snow", "the fox leaps over a fallen log") * 2


def _render(out: Path, seconds: float, width: int, height: int) -> list[Path]:
    paths = []
    latent = None
    for i, prompt in enumerate(PROMPTS):
        request = localmodel.RenderRequest(
            prompt, 7, seconds, fps=24, width=width, height=height, init_latent=latent
        )
        result = localmodel.render(request, out, f"s{seconds:g}-{width}-{i}", threads=1)
        latent = localmodel.load_latent(result.latent_path) if i % 2 == 0 else None
        paths.append(result.video.path)
    return paths


def _cpu(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def _decode_all(paths: Sequence[Path]) -> None:
    for path in paths:
        for _ in media.iter_frames_rgb(path):
            pass


def measure(paths: list[Path], repeat: int) -> tuple[float, float, float]:
    seconds = sum(media.probe(p).duration for p in paths)
    clips = [SceneClip(i, p, i % 2 == 1) for i, p in enumerate(paths)]
    score = _cpu(lambda: score_clips(clips), repeat)
    decode = _cpu(lambda: _decode_all(paths), repeat)
    return seconds, score / seconds, decode / seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="coherence-speed-"))
    rows = []
    try:
        for seconds, width, height in (
            (1, 256, 144),
            (2, 256, 144),
            (4, 256, 144),
            (8, 256, 144),
            (2, 640, 360),
        ):
            video, per_second, decode = measure(_render(work, seconds, width, height), args.repeat)
            rows.append((f"4 x {seconds} s {width}x{height}", video, per_second, decode))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'video':<22} {'length':>6} {'score s/s':>9} {'decode s/s':>10} {'ratio':>6}")
    for name, video, per_second, decode in rows:
        ratio = per_second / decode
        print(f"{name:<22} {video:>5.1f}s {per_second:>9.4f} {decode:>10.4f} {ratio:>5.1f}x")
    worst = max(r[2] for r in rows)
    verdict = "within" if worst <= BUDGET else "OVER"
    print(f"\nworst {worst:.4f} s of CPU per s of video: {verdict} the {BUDGET} s budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
