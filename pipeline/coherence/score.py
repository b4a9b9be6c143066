"""The coherence score of a multi-scene video, judged from the pixels alone.

Three terms, each in [0, 1]:

* **style** - how alike the scenes' colour and texture statistics are (all scene pairs;
  ``style``);
* **continuity** - whether each boundary carries on, measured on the frames around it after
  motion compensation (``cuts``). *Every* boundary is judged, whatever the plan says; a cut keeps
  ``CUT_CREDIT`` of the term (full credit from ``SEAMLESS``), so a video with cuts is less
  continuous than one without, but an edit is not a failure;
* **stability** - flicker, noise and cuts inside each scene (``stability``).

``score = exp((0.5 ln style + 0.3 ln continuity + 0.2 ln stability) / sum(weights used))``, a
weighted geometric mean (terms floored at ``TERM_FLOOR`` = 0.001); continuity drops out for a
one-scene video. The plan (``SceneClip.continuous``) never enters the score: it is only compared
with each boundary's verdict, and a boundary planned continuous but seen as a cut is reported as
a **failed hand-over**. docs/coherence-score.md explains every constant and its calibration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.coherence import cuts, stability, style
from pipeline.coherence.frames import ClipFrames, CoherenceError, clip_from_frames, read_clip

VERSION = "coherence-v2"

# --- top-level weights --------------------------------------------------------------------------
# A weighted *geometric* mean (see ``combine``): a video is only coherent if it is consistent AND
# continuous AND stable, so a failed term cannot be bought back by a perfect one (TV static in
# every scene has a perfectly consistent "style"). Style weighs most: it applies to every scene
# pair and "visual DNA" is what the product promises; continuity next (a broken hand-over is the
# most visible failure); stability least (generators are smooth nearly always, so it mostly
# catches pathological output: flicker, noise, jump cuts).
W_STYLE = 0.5
W_CONTINUITY = 0.3
W_STABILITY = 0.2
# A term of 0 would make the geometric mean 0 whatever the others say (and log(0) is undefined).
# The floor sets how hard one completely failed term caps the score, floor ** (w / sum(w)):
# 0.25 for stability, 0.13 for continuity, 0.03 for style (all three terms present).
TERM_FLOOR = 0.001
# Share of the continuity term a boundary keeps when it is a clean cut (continuity 0): a cut is a
# legitimate edit, but the score must see it without asking the plan, so two plans of one video
# score the same. Boundary term = CUT_CREDIT + (1 - CUT_CREDIT) * continuity. At 0.25 one cut
# among three boundaries costs a good video ~8 % of its score, all cuts ~30 %, and noise with every
# boundary cut still scores <= 0.2 (at 0.3-0.5 the credit bought noise back over 0.2).
CUT_CREDIT = 0.25
# Continuity from which a boundary earns full credit. Continuous boundaries of clean footage
# measure 0.90-1.00, and a low-bitrate re-encode takes them down by up to 0.05-0.08 (codec
# detail, not discontinuity); without this shoulder that alone moved scores by 0.01-0.02.
SEAMLESS = 0.9
# A scene whose mean style similarity to the others is below this gets a note.
STYLE_DRIFT_NOTE = 0.5


# =================================================================================================
# Inputs
# =================================================================================================


@dataclass(frozen=True)
class SceneClip:
    index: int
    path: Path
    # What the plan says: carries on from scene index-1. Only compared with the verdict (a failed
    # hand-over); never used by the score. None: no plan (``score_video``).
    continuous: bool | None = None


@dataclass(frozen=True)
class SceneFrames:
    """In-memory frames of one scene, in time order (HxWx3 RGB, uint8 or float in [0, 1])."""

    index: int
    frames: list[np.ndarray]
    continuous: bool | None = None
    fps: float = 24.0


# =================================================================================================
# Report
# =================================================================================================


@dataclass
class SceneScore:
    index: int
    style_to_first: float  # style similarity to the first scene (1.0 for the first scene)
    style_to_prev: float | None  # to the previous scene; None for the first scene
    style_mean: float  # mean similarity to every other scene (the value that enters ``style``)
    stability: float
    flicker: float  # relative brightness jitter after motion compensation (0.1 = 10 %)
    noise: float  # 1 - motion-compensated similarity of consecutive frames (0 = all explained)
    internal_cuts: list[float]  # seconds from the clip's start of every cut inside the scene
    lab_mean: list[float]
    lab_std: list[float]
    frames: int
    duration: float  # seconds

    @property
    def style_distance(self) -> float:
        return 1.0 - self.style_mean


@dataclass
class BoundaryScore:
    from_index: int
    to_index: int
    continuity: float  # similarity x motion consistency, in [0, 1]
    verdict: str  # "continuous" | "cut": continuity against cuts.CUT_THRESHOLD
    similarity: float  # luminance x structure x chroma after motion compensation
    structure: float  # SSIM contrast-structure term of the aligned frames
    chroma_shift: float  # CIELAB a*b* distance of the aligned frames' mean colours
    motion_consistency: float
    motion: dict[str, float]  # dx, dy (frame fractions) and scale across the boundary
    style_similarity: float  # style similarity of the two scenes
    continuous: bool | None = None  # the plan (None: no plan)
    failed_handover: bool = False  # planned continuous, seen as a cut

    @property
    def kind(self) -> str | None:
        """The plan's kind of boundary ("continuous" | "cut"), None without a plan."""
        return None if self.continuous is None else ("continuous" if self.continuous else "cut")


@dataclass
class CoherenceReport:
    score: float
    style: float
    continuity: float | None
    stability: float
    scenes: list[SceneScore]
    boundaries: list[BoundaryScore]
    notes: list[str]
    version: str = VERSION
    threshold: float = field(default=cuts.CUT_THRESHOLD)

    @property
    def failed_handovers(self) -> list[BoundaryScore]:
        return [b for b in self.boundaries if b.failed_handover]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (plain floats/ints/str), as stored on a Generation."""
        data = asdict(self)
        data["boundaries"] = [
            {**d, "kind": b.kind} for d, b in zip(data["boundaries"], self.boundaries, strict=True)
        ]
        data["failed_handovers"] = len(self.failed_handovers)
        data["weights"] = {"style": W_STYLE, "continuity": W_CONTINUITY, "stability": W_STABILITY}
        return _plain(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CoherenceReport:
        """Read a stored report back (unknown keys are ignored, missing v2 keys defaulted)."""
        return cls(
            score=float(data["score"]),
            style=float(data["style"]),
            continuity=None if data.get("continuity") is None else float(data["continuity"]),
            stability=float(data["stability"]),
            scenes=[_known(SceneScore, s, _SCENE_DEFAULTS) for s in data.get("scenes", [])],
            boundaries=[
                _known(BoundaryScore, b, _boundary_defaults(b)) for b in data.get("boundaries", [])
            ],
            notes=list(data.get("notes", [])),
            version=str(data.get("version", VERSION)),
            threshold=float(data.get("threshold", cuts.CUT_THRESHOLD)),
        )


# Defaults for keys a coherence-v1 report (stored before this version) does not have.
_SCENE_DEFAULTS: dict[str, Any] = {
    "flicker": 0.0,
    "noise": 0.0,
    "internal_cuts": [],
    "duration": 0.0,
}


def _boundary_defaults(b: dict[str, Any]) -> dict[str, Any]:
    value = float(b.get("continuity", 0.0))
    return {
        "verdict": "continuous" if value >= cuts.CUT_THRESHOLD else "cut",
        "similarity": value,
        "structure": float(b.get("ssim", 0.0)),
        "chroma_shift": 0.0,
        "motion_consistency": 1.0,
        "motion": {"dx": 0.0, "dy": 0.0, "scale": 1.0},
        "style_similarity": 0.0,
    }


def _known(cls: type, data: dict[str, Any], defaults: dict[str, Any]) -> Any:
    names = set(cls.__dataclass_fields__)
    return cls(**{**defaults, **{k: v for k, v in data.items() if k in names}})


def _plain(value: Any) -> Any:
    """numpy scalars/arrays -> plain Python, so json.dumps never chokes on a stored report."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value)
    return value


# =================================================================================================
# Scoring
# =================================================================================================


def _fsum_mean(values: Iterable[float]) -> float:
    # Sorted exact summation: the mean does not depend on the order pairs were visited in, which is
    # what makes ``style`` exactly invariant to permuting the scenes.
    vals = sorted(values)
    return math.fsum(vals) / len(vals) if vals else 1.0


def combine(style_term: float, continuity: float | None, stability_term: float) -> float:
    """The coherence score: weighted geometric mean of the terms, each floored at TERM_FLOOR.

    ``score = exp(sum(w_k * ln(max(t_k, floor))) / sum(w_k))``; continuity drops out (and the
    weights renormalise) when the video has a single scene.
    """
    parts = [(W_STYLE, style_term), (W_STABILITY, stability_term)]
    if continuity is not None:
        parts.append((W_CONTINUITY, continuity))
    total = sum(w for w, _ in parts)
    log_mean = sum(w * math.log(max(v, TERM_FLOOR)) for w, v in parts) / total
    return float(min(1.0, max(0.0, math.exp(log_mean))))


def boundary_credit(continuity: float) -> float:
    """What one boundary adds to the continuity term: CUT_CREDIT for a clean cut, 1 from SEAMLESS
    up, linear between."""
    return CUT_CREDIT + (1.0 - CUT_CREDIT) * min(1.0, continuity / SEAMLESS)


def continuity_term(boundaries: Sequence[BoundaryScore]) -> float | None:
    """Mean boundary credit over all boundaries; None without boundaries."""
    if not boundaries:
        return None
    return _fsum_mean(boundary_credit(b.continuity) for b in boundaries)


@dataclass(frozen=True)
class _Scene:
    """One scene while it is being scored."""

    index: int
    continuous: bool | None
    clip: ClipFrames
    pairs: list[cuts.PairMeasure]
    cut_pairs: list[int]


def _analyse(
    index: int, continuous: bool | None, clip: ClipFrames, previous: _Scene | None
) -> _Scene:
    carried = [previous.pairs[-1].motion] if previous and previous.pairs else []
    pairs = cuts.clip_pairs(clip.small, carried)
    cut_pairs = [
        i
        for i in range(len(pairs))
        if cuts.is_cut(cuts.continuity(pairs[i], cuts.context(pairs, i)))
    ]
    return _Scene(index, continuous, clip, pairs, cut_pairs)


def _style_matrix(features: Sequence[style.SceneFeatures]) -> np.ndarray:
    n = len(features)
    sim = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            sim[i, j] = sim[j, i] = style.style_similarity(features[i], features[j])
    return sim


def _scene_score(i: int, scene: _Scene, sim: np.ndarray, lab: style.SceneFeatures) -> SceneScore:
    steady = stability.scene_stability(scene.pairs, scene.cut_pairs)
    others = [sim[i, j] for j in range(len(sim)) if j != i]
    fps = scene.clip.fps
    return SceneScore(
        index=scene.index,
        style_to_first=float(sim[0, i]),
        style_to_prev=float(sim[i - 1, i]) if i else None,
        style_mean=_fsum_mean(others) if others else 1.0,
        stability=steady.stability,
        flicker=steady.flicker,
        noise=steady.noise,
        internal_cuts=[round((k + 1) / fps, 4) for k in scene.cut_pairs],
        lab_mean=[float(v) for v in lab.lab_mean],
        lab_std=[float(v) for v in lab.lab_std],
        frames=len(scene.clip.small),
        duration=len(scene.clip.small) / fps,
    )


def _boundary_score(before: _Scene, after: _Scene, style_sim: float) -> BoundaryScore:
    last = before.pairs[-1] if before.pairs else None
    first = after.pairs[0] if after.pairs else None
    pair = cuts.boundary_pair(before.clip.small[-1], after.clip.small[0], last, first)
    around = [
        *cuts.same_shot(before.pairs[-cuts.CONTEXT :][::-1]),
        *cuts.same_shot(after.pairs[: cuts.CONTEXT]),
    ]
    consistency = cuts.motion_consistency(pair, around)
    value = float(pair.similarity * consistency)
    verdict = "cut" if cuts.is_cut(value) else "continuous"
    return BoundaryScore(
        from_index=before.index,
        to_index=after.index,
        continuity=value,
        verdict=verdict,
        similarity=pair.similarity,
        structure=pair.structure,
        chroma_shift=pair.chroma_shift,
        motion_consistency=consistency,
        motion={"dx": pair.motion.dx, "dy": pair.motion.dy, "scale": pair.motion.scale},
        style_similarity=style_sim,
        continuous=after.continuous,
        failed_handover=bool(after.continuous) and verdict == "cut",
    )


def _notes(scene_scores: Sequence[SceneScore], boundaries: Sequence[BoundaryScore]) -> list[str]:
    notes = []
    if len(scene_scores) == 1:
        notes.append(
            "a one-scene video has no boundaries: continuity is not scored and style is 1.0 "
            "(nothing to compare); the score comes from style and stability"
        )
    for b in boundaries:
        if b.failed_handover:
            notes.append(
                f"failed hand-over: boundary {b.from_index + 1}->{b.to_index + 1} is planned "
                f"continuous but looks like a cut (continuity {b.continuity:.2f})"
            )
    for s in scene_scores:
        if s.internal_cuts:
            times = ", ".join(f"{t:.2f} s" for t in s.internal_cuts)
            notes.append(f"scene {s.index + 1} has a cut inside it at {times}")
        if (
            len(scene_scores) > 1
            and s.index != scene_scores[0].index
            and (s.style_mean < STYLE_DRIFT_NOTE)
        ):
            notes.append(
                f"scene {s.index + 1} drifts in style (mean similarity {s.style_mean:.2f})"
            )
    return notes


def _report(scenes: Sequence[_Scene]) -> CoherenceReport:
    ordered = sorted(scenes, key=lambda s: s.index)
    indices = [s.index for s in ordered]
    if len(set(indices)) != len(indices):
        raise CoherenceError(f"duplicate scene indices: {indices}")
    features = [style.features_of_rgb(s.clip.samples) for s in ordered]
    sim = _style_matrix(features)
    scene_scores = [_scene_score(i, s, sim, features[i]) for i, s in enumerate(ordered)]
    boundaries = [
        _boundary_score(ordered[i], ordered[i + 1], float(sim[i, i + 1]))
        for i in range(len(ordered) - 1)
    ]
    n = len(ordered)
    # Style: mean similarity over *all* scene pairs, which does not depend on scene order.
    style_term = _fsum_mean(sim[i, j] for i in range(n) for j in range(i + 1, n)) if n > 1 else 1.0
    stability_term = _fsum_mean(s.stability for s in scene_scores)
    continuity = continuity_term(boundaries)
    return CoherenceReport(
        score=combine(style_term, continuity, stability_term),
        style=float(style_term),
        continuity=continuity,
        stability=float(stability_term),
        scenes=scene_scores,
        boundaries=boundaries,
        notes=_notes(scene_scores, boundaries),
    )


def score_frames(scenes: Sequence[SceneFrames], *, samples_per_scene: int = 8) -> CoherenceReport:
    """Score in-memory frames (every frame of each scene, in order). The array entry point."""
    if not scenes:
        raise CoherenceError("no scenes to score: a coherence report needs at least one clip")
    analysed: list[_Scene] = []
    for scene in sorted(scenes, key=lambda s: s.index):
        try:
            clip = clip_from_frames(scene.frames, scene.fps, samples_per_scene)
        except CoherenceError as exc:
            raise CoherenceError(f"scene {scene.index + 1}: {exc}") from exc
        previous = analysed[-1] if analysed else None
        analysed.append(_analyse(scene.index, scene.continuous, clip, previous))
    return _report(analysed)


def score_clips(clips: Sequence[SceneClip], *, samples_per_scene: int = 8) -> CoherenceReport:
    """Score rendered scene clips (every frame decoded once through ``pipeline.media``).

    Raises ``CoherenceError`` for zero clips and for a missing/unreadable clip, naming the scene.
    """
    if not clips:
        raise CoherenceError("no clips to score: a coherence report needs at least one clip")
    if samples_per_scene < 2:
        raise CoherenceError("samples_per_scene must be at least 2 (first and last frame)")
    analysed: list[_Scene] = []
    for clip in sorted(clips, key=lambda c: c.index):
        try:
            frames = read_clip(Path(clip.path), samples_per_scene)
        except CoherenceError as exc:
            raise CoherenceError(f"scene {clip.index + 1}: {exc}") from exc
        previous = analysed[-1] if analysed else None
        analysed.append(_analyse(clip.index, clip.continuous, frames, previous))
    return _report(analysed)


def score_video(paths: Sequence[Path]) -> CoherenceReport:
    """Score any footage: clips in order as consecutive scenes, no plan (the generation path)."""
    return score_clips([SceneClip(i, Path(p)) for i, p in enumerate(paths)])
