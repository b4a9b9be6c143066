"""Calibration of the coherence verdicts on labelled real footage, and the v1 comparison.

Builds the labelled set of bench/coherence_footage.py (camera moves over real
photographs: pans split into two scenes, fast pans, zooms, cuts within and between photos, cuts
inside scenes, flicker, low-bitrate re-encodes), scores every video with ``score_video`` and
prints the table in docs/coherence-score.md: ROC of boundary continuity (AUC, TPR/FPR at the
threshold), accuracy per case, internal-cut recall, re-encode drift and scoring speed.

    python -m bench.coherence_calibration [--seeds 1,2,3] [--per-kind 10]
    python -m bench.coherence_calibration --v1 old_coherence.py   # also score with v1

``--v1`` takes the single-module v1 scorer (``git show a1e530e:pipeline/coherence.py``), run with
every boundary marked continuous (so v1 measures them all) and its 0.5 note threshold.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

from bench import coherence_footage as footage
from pipeline import media
from pipeline.coherence.cuts import CUT_THRESHOLD
from pipeline.coherence.score import score_video

KINDS = ("pan", "fast", "zoom", "cut_same", "cut_other")


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    wins = [1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives]
    return float(np.mean(wins))


def _v1_scorer(path: Path) -> Callable[[list[Path]], tuple[float, float]]:
    spec = importlib.util.spec_from_file_location("coherence_v1", path)
    assert spec and spec.loader
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules["coherence_v1"] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)

    def score(paths: list[Path]) -> tuple[float, float]:
        clips = [module.SceneClip(i, p, i > 0) for i, p in enumerate(paths)]
        report = module.score_clips(clips)
        return report.boundaries[0].continuity, report.score

    return score


def _v2(paths: list[Path]) -> tuple[float, float]:
    report = score_video(paths)
    return report.boundaries[0].continuity, report.score


def boundary_table(rows: list[tuple[str, bool, float, float]], threshold: float, name: str) -> str:
    cont = [c for _, truth, c, _ in rows if truth]
    cut = [c for _, truth, c, _ in rows if not truth]
    tpr = np.mean([c < threshold for c in cut])
    fpr = np.mean([c < threshold for c in cont])
    lines = [
        f"{name}: {len(cont)} continuous + {len(cut)} cut boundaries, AUC {auc(cont, cut):.3f}, "
        f"threshold {threshold:.2f}: cuts called cut (TPR) {tpr:.3f}"
        f", continuous called cut (FPR) {fpr:.3f}",
        f"  min continuous {min(cont):.3f}, max cut {max(cut):.3f}",
        f"  {'case':<10} {'n':>3} {'accuracy':>8} {'continuity':>10} {'score':>6}",
    ]
    for kind in KINDS:
        sel = [r for r in rows if r[0] == kind]
        right = [(c >= threshold) == truth for _, truth, c, _ in sel]
        continuity = statistics.fmean(r[2] for r in sel)
        score = statistics.fmean(r[3] for r in sel)
        lines.append(
            f"  {kind:<10} {len(sel):>3} {np.mean(right):>8.3f} {continuity:>10.3f} {score:>6.3f}"
        )
    return "\n".join(lines)


def internal_recall(seed: int, count: int, out: Path) -> str:
    rng = random.Random(seed)
    found = extra = 0
    for i in range(count):
        case = footage.internal_cut_case(rng)
        got = score_video(case.encode(out, f"cut{i}")).scenes[0].internal_cuts
        hits = [t for t in got if abs(t - case.internal_cuts[0]) <= 0.5 / case.fps]
        found, extra = found + bool(hits), extra + len(got) - len(hits)
    return f"cuts inside scenes: found {found}/{count}, extra {extra}"


def _reencode(path: Path, crf: int) -> Path:
    frames = media.sample_frames(path, media.probe(path).frame_count)
    old, media.CRF = media.CRF, crf
    try:
        dst = path.with_name(f"{path.stem}-crf{crf}.mp4")
        return media.encode(frames, dst, fps=round(media.probe(path).fps), threads=1).path
    finally:
        media.CRF = old


def reencode_drift(seed: int, count: int, out: Path, scorers: dict) -> str:
    rng = random.Random(seed)
    cases = [footage.continuous_case(rng, KINDS[i % 3]) for i in range(count)]
    lines = []
    for crf in (30, 35, 40):
        for name, scorer in scorers.items():
            drift = []
            for i, case in enumerate(cases):
                paths = case.encode(out, f"d{i}")
                drift.append(abs(scorer(paths)[1] - scorer([_reencode(p, crf) for p in paths])[1]))
            lines.append(
                f"re-encode CRF {crf} ({name}): max |dscore| {max(drift):.4f}, "
                f"mean {statistics.fmean(drift):.4f} over {count} videos"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--per-kind", type=int, default=10)
    parser.add_argument("--v1", type=Path, default=None, help="path of the v1 coherence.py")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="coherence-calibration-"))
    scorers: dict[str, Callable] = {"v2": _v2}
    if args.v1:
        scorers["v1"] = _v1_scorer(args.v1)
    cases = [
        case
        for seed in map(int, args.seeds.split(","))
        for case in footage.labelled_boundaries(seed, args.per_kind)
    ]
    encoded = [(case, case.encode(out, f"b{i}")) for i, case in enumerate(cases)]
    for name, scorer in scorers.items():
        started = time.process_time()
        rows = [(c.kind, bool(c.continuous), *scorer(paths)) for c, paths in encoded]
        seconds = sum(len(s) / c.fps for c, _ in encoded for s in c.scenes)
        print(boundary_table(rows, CUT_THRESHOLD if name == "v2" else 0.5, name))
        print(f"  CPU {time.process_time() - started:.1f} s for {seconds:.0f} s of video")
    print(internal_recall(101, 40, out))
    print(reencode_drift(202, 12, out, scorers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
