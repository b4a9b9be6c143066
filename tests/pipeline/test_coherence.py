"""Properties of the coherence score, checked on real clips rendered by the local model.

Clips are small (128x72, 1 s at 24 fps) so the whole module runs in a few seconds. Rendering is
deterministic, so every number asserted here is reproducible.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import lab2rgb, rgb2lab

from pipeline import localmodel, media
from pipeline.coherence.colour import color_match, color_match_clip, lab_stats
from pipeline.coherence.drawing import format_report_table, render_report_png, render_report_svg
from pipeline.coherence.frames import CoherenceError
from pipeline.coherence.score import (
    TERM_FLOOR,
    VERSION,
    CoherenceReport,
    SceneClip,
    SceneFrames,
    combine,
    score_clips,
    score_frames,
)

WIDTH, HEIGHT, FPS, DURATION = 128, 72, 24, 1.0
PROMPTS = (
    "a red fox running through a snowy forest",
    "city skyline at night with neon lights",
    "calm ocean waves at sunset",
    "a cat sleeping on a windowsill",
)
SEED = 4242
# Plan used throughout: scenes 1 and 3 continue their predecessor, as in a typical plan.
FLAGS = (False, True, False, True)


def _render(
    out: Path, stem: str, prompt: str, seed: int, init: np.ndarray | None = None
) -> localmodel.RenderResult:
    request = localmodel.RenderRequest(
        prompt, seed, DURATION, fps=FPS, width=WIDTH, height=HEIGHT, init_latent=init
    )
    return localmodel.render(request, out, stem, threads=1)


def _clips(paths: list[Path], flags: tuple[bool, ...] = FLAGS) -> list[SceneClip]:
    return [SceneClip(i, p, f) for i, (p, f) in enumerate(zip(paths, flags, strict=True))]


def _all_frames(path: Path) -> list[np.ndarray]:
    return media.sample_frames(path, media.probe(path).frame_count)


def _transform_clip(src: Path, dst: Path, fn: Callable[[np.ndarray], np.ndarray]) -> Path:
    media.encode([fn(f) for f in _all_frames(src)], dst, fps=FPS)
    return dst


def _shift_a(shift: float) -> Callable[[np.ndarray], np.ndarray]:
    """Shift CIELAB a* (green-red) by ``shift`` units, as a colour-graded scene would be."""

    def apply(frame: np.ndarray) -> np.ndarray:
        lab = rgb2lab(frame)
        lab[..., 1] += shift
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # out-of-gamut values are clipped just below
            rgb = lab2rgb(lab)
        return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)

    return apply


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("coherence")


@pytest.fixture(scope="module")
def chained(out_dir: Path) -> list[Path]:
    """Four scenes, one seed, scenes 1 and 3 started from their predecessor's final latent."""
    results: list[localmodel.RenderResult] = []
    for i, prompt in enumerate(PROMPTS):
        init = np.load(results[-1].latent_path) if FLAGS[i] else None
        results.append(_render(out_dir, f"chain{i}", prompt, SEED, init))
    return [r.video.path for r in results]


@pytest.fixture(scope="module")
def unrelated_seeds(out_dir: Path) -> list[Path]:
    """The same four prompts, every scene with its own seed and no latent handoff."""
    return [_render(out_dir, f"free{i}", p, 9000 + 7 * i).video.path for i, p in enumerate(PROMPTS)]


@pytest.fixture(scope="module")
def same_seed(out_dir: Path) -> list[Path]:
    """The same four prompts and one seed, no latent handoff."""
    return [_render(out_dir, f"seed{i}", p, SEED).video.path for i, p in enumerate(PROMPTS)]


# --------------------------------------------------------------------------------------------
# Score properties
# --------------------------------------------------------------------------------------------


def test_identical_clips_have_identical_style(chained: list[Path]) -> None:
    # The same clip as every scene: style is exactly 1. Each boundary jumps from the clip's last
    # frame back to its first, which v2 sees (from the pixels) whatever the plan says.
    report = score_clips(_clips([chained[0]] * 4, (False,) * 4))
    assert report.style == pytest.approx(1.0)
    assert report.stability == pytest.approx(1.0)


def test_one_take_split_into_scenes_scores_near_one(out_dir: Path) -> None:
    # One 4 s local-model take cut into four 1 s scenes: every boundary is truly continuous.
    take = localmodel.render(
        localmodel.RenderRequest(PROMPTS[0], SEED, 4.0, fps=FPS, width=WIDTH, height=HEIGHT),
        out_dir,
        "take",
        threads=1,
    ).video.path
    frames = _all_frames(take)
    parts = [frames[i * N_FRAMES : (i + 1) * N_FRAMES] for i in range(4)]
    report = score_clips(_clips(_encode_scenes(out_dir, "part", parts), (False,) * 4))
    assert [b.verdict for b in report.boundaries] == ["continuous"] * 3
    assert report.continuity is not None and report.continuity >= 0.97
    # Style is below 1 only because the content moves over 4 s (0.87 measured).
    assert report.score >= 0.9, report.score


N_FRAMES = int(FPS * DURATION)


def _encode_scenes(out_dir: Path, name: str, scenes: list[list[np.ndarray]]) -> list[Path]:
    return [
        media.encode(frames, out_dir / f"{name}{i}.mp4", fps=FPS).path
        for i, frames in enumerate(scenes)
    ]


@pytest.mark.parametrize("flags", [FLAGS, (False,) * 4], ids=["with-continuous", "all-cuts"])
def test_uniform_noise_scores_low(out_dir: Path, flags: tuple[bool, ...]) -> None:
    # Full-range uniform noise, different in every scene and every frame. Its colour/texture
    # statistics are the same everywhere, so style is high; stability (not compensable in a
    # geometric mean) and continuity must sink the score anyway.
    rng = np.random.default_rng(11)
    scenes = [
        [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(N_FRAMES)]
        for _ in range(4)
    ]
    report = score_clips(_clips(_encode_scenes(out_dir, "static", scenes), flags))
    assert report.style > 0.9
    assert report.stability < 0.05
    assert report.score <= 0.2
    assert all(b.verdict == "cut" for b in report.boundaries)


def test_unrelated_coloured_noise_scores_low(out_dir: Path) -> None:
    # Noise with its own random colour range per scene: unrelated palettes, no continuity,
    # flicker. (Over 20 draws this scores 0.22-0.36, mean 0.27: noise fields whose colour ranges
    # overlap do share colour statistics; see docs/coherence-score.md.)
    rng = np.random.default_rng(7)
    scenes = []
    for _ in range(4):
        low, span = rng.integers(0, 160, 3), rng.integers(40, 96, 3)
        scenes.append(
            [
                (low + rng.random((HEIGHT, WIDTH, 3)) * span).astype(np.uint8)
                for _ in range(N_FRAMES)
            ]
        )
    report = score_clips(_clips(_encode_scenes(out_dir, "tinted", scenes)))
    assert report.style < 0.4
    assert all(b.continuity < 0.3 and b.verdict == "cut" for b in report.boundaries)
    assert report.score <= 0.3


def test_score_falls_monotonically_with_colour_shift(chained: list[Path], out_dir: Path) -> None:
    scores, styles = [], []
    for shift in (0, 10, 20, 40):
        # Shift 0 is re-encoded too, so only the colour differs between the four runs.
        shifted = _transform_clip(chained[2], out_dir / f"shift{shift}.mp4", _shift_a(shift))
        report = score_clips(_clips([chained[0], chained[1], shifted, chained[3]]))
        scores.append(report.score)
        styles.append(report.style)
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    assert all(a > b for a, b in itertools.pairwise(styles)), styles
    assert scores[0] - scores[-1] > 0.1, scores


def test_latent_handoff_is_more_continuous_than_a_cut(chained: list[Path], out_dir: Path) -> None:
    # Same seed and prompt for scene 1 either way; only the latent handoff differs.
    cut = _render(out_dir, "cut1", PROMPTS[1], SEED).video.path
    handed_off = score_clips(_clips(chained[:2], (False, True))).boundaries[0]
    restarted = score_clips(_clips([chained[0], cut], (False, False))).boundaries[0]
    assert handed_off.continuity > restarted.continuity + 0.2
    assert handed_off.similarity > restarted.similarity
    assert handed_off.continuity > 0.85
    # v1 scored this failed hand-over ~0.55 and let it pass; v2 calls it a cut and flags it.
    assert handed_off.verdict == "continuous" and not handed_off.failed_handover
    failed = score_clips(_clips([chained[0], cut], (False, True))).boundaries[0]
    assert failed.verdict == "cut" and failed.failed_handover


def test_reencoding_barely_moves_the_score(chained: list[Path], out_dir: Path) -> None:
    before = score_clips(_clips(chained))
    again = [
        _transform_clip(p, out_dir / f"reenc{i}.mp4", lambda f: f) for i, p in enumerate(chained)
    ]
    after = score_clips(_clips(again))
    assert abs(before.score - after.score) <= 0.02
    assert abs(before.style - after.style) <= 0.02


def test_style_term_does_not_depend_on_scene_order(chained: list[Path]) -> None:
    frames = [media.sample_frames(p, 8) for p in chained]
    base = score_frames([SceneFrames(i, f, False) for i, f in enumerate(frames)])
    for order in ((3, 1, 0, 2), (2, 3, 1, 0), (1, 0, 3, 2)):
        permuted = score_frames([SceneFrames(i, frames[j], False) for i, j in enumerate(order)])
        assert permuted.style == pytest.approx(base.style, abs=1e-9)


def test_same_seed_scores_clearly_above_different_seeds(
    same_seed: list[Path], unrelated_seeds: list[Path]
) -> None:
    cuts = (False,) * 4
    shared = score_clips(_clips(same_seed, cuts))
    separate = score_clips(_clips(unrelated_seeds, cuts))
    assert shared.style > separate.style + 0.15
    assert shared.score > separate.score + 0.1


def test_full_configuration_beats_partial_ones(
    chained: list[Path], same_seed: list[Path], unrelated_seeds: list[Path]
) -> None:
    both = score_clips(_clips(chained)).score
    seed_only = score_clips(_clips(same_seed)).score
    neither = score_clips(_clips(unrelated_seeds)).score
    assert both > seed_only > neither


# --------------------------------------------------------------------------------------------
# Colour matching
# --------------------------------------------------------------------------------------------


def test_color_match_clip_moves_statistics_to_the_reference(
    chained: list[Path], out_dir: Path
) -> None:
    shifted = _transform_clip(chained[2], out_dir / "graded.mp4", _shift_a(25))
    matched = out_dir / "matched.mp4"
    color_match_clip(shifted, chained[0], matched)

    ref = lab_stats(media.sample_frames(chained[0], 16))
    src = lab_stats(media.sample_frames(shifted, 16))
    out = lab_stats(media.sample_frames(matched, 16))
    gap_before = np.linalg.norm(np.subtract(src.mean, ref.mean))
    gap_after = np.linalg.norm(np.subtract(out.mean, ref.mean))
    std_before = np.linalg.norm(np.subtract(src.std, ref.std))
    std_after = np.linalg.norm(np.subtract(out.std, ref.std))
    assert gap_before > 15  # the grade really moved it
    assert gap_after < 0.2 * gap_before, (gap_before, gap_after)
    assert std_after < std_before, (std_before, std_after)
    # Same fps and frame count as the source: only colour changed.
    assert media.probe(matched).fps == media.probe(shifted).fps
    assert media.probe(matched).frame_count == media.probe(shifted).frame_count

    style_before = score_clips(_clips([chained[0], shifted], (False, False))).style
    style_after = score_clips(_clips([chained[0], matched], (False, False))).style
    assert style_after > style_before + 0.1


def test_color_match_frames_hits_reference_mean() -> None:
    rng = np.random.default_rng(3)
    frames = [(rng.random((36, 64, 3)) * 120 + 60).astype(np.uint8) for _ in range(4)]
    reference = lab_stats([(rng.random((36, 64, 3)) * 80 + 20).astype(np.uint8)])
    matched = color_match(frames, reference)
    got = lab_stats(matched)
    assert np.allclose(got.mean, reference.mean, atol=1.5)
    assert np.allclose(got.std, reference.std, atol=1.5)
    assert all(f.dtype == np.uint8 and f.shape == (36, 64, 3) for f in matched)


# --------------------------------------------------------------------------------------------
# Edge cases and errors
# --------------------------------------------------------------------------------------------


def test_single_scene_has_no_boundaries(chained: list[Path]) -> None:
    report = score_clips([SceneClip(0, chained[0], False)])
    assert report.boundaries == []
    assert report.continuity is None
    assert any("no boundaries" in note for note in report.notes)
    assert report.score == pytest.approx(combine(report.style, None, report.stability))
    assert 0.9 <= report.score <= 1.0


def test_no_clips_is_an_error() -> None:
    with pytest.raises(CoherenceError, match="at least one clip"):
        score_clips([])
    with pytest.raises(CoherenceError, match="at least one"):
        score_frames([])


def test_missing_clip_names_the_scene(chained: list[Path], tmp_path: Path) -> None:
    clips = [SceneClip(0, chained[0], False), SceneClip(1, tmp_path / "nope.mp4", True)]
    # Messages count scenes from 1, as people do (index 1 is the second scene).
    with pytest.raises(CoherenceError, match="scene 2"):
        score_clips(clips)


def test_unreadable_clip_names_the_scene(chained: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 definitely not a video" * 10)
    clips = [SceneClip(0, chained[0], False), SceneClip(2, broken, False)]
    with pytest.raises(CoherenceError, match="scene 3"):
        score_clips(clips)


def test_the_plan_does_not_change_the_score(chained: list[Path]) -> None:
    # The same video under two plans: one score, one set of verdicts; only the plan-vs-verdict
    # comparison (failed hand-overs) differs. v1 scored only the boundaries the plan called
    # continuous, so a plan with no continuous scene could never be caught cutting.
    as_planned = score_clips(_clips(chained, FLAGS))
    all_continuous = score_clips(_clips(chained, (False, True, True, True)))
    no_plan = score_clips([SceneClip(i, p) for i, p in enumerate(chained)])
    assert as_planned.score == all_continuous.score == no_plan.score
    assert as_planned.continuity is not None
    verdicts = [b.verdict for b in as_planned.boundaries]
    expected = ["continuous", "cut", "continuous"]
    assert verdicts == [b.verdict for b in all_continuous.boundaries] == expected
    assert [b.failed_handover for b in as_planned.boundaries] == [False, False, False]
    assert [b.failed_handover for b in all_continuous.boundaries] == [False, True, False]
    assert [b.kind for b in no_plan.boundaries] == [None, None, None]
    assert any("failed hand-over" in note for note in all_continuous.notes)


def test_scores_are_bounded_and_combine_is_monotone() -> None:
    assert combine(1.0, 1.0, 1.0) == pytest.approx(1.0)
    assert combine(0.0, 0.0, 0.0) == pytest.approx(TERM_FLOOR)
    # A completely failed stability term caps the score at TERM_FLOOR ** 0.2 (~0.25).
    assert combine(1.0, 1.0, 0.0) == pytest.approx(TERM_FLOOR**0.2)
    assert combine(0.8, 0.9, 0.95) > combine(0.7, 0.9, 0.95) > combine(0.7, 0.8, 0.95)
    assert combine(0.8, None, 0.9) == pytest.approx(
        math.exp((0.5 * math.log(0.8) + 0.2 * math.log(0.9)) / 0.7)
    )


# --------------------------------------------------------------------------------------------
# Report serialisation and rendering
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(chained: list[Path]) -> CoherenceReport:
    return score_clips(_clips(chained))


def test_to_dict_is_plain_json(report: CoherenceReport) -> None:
    data = report.to_dict()
    text = json.dumps(data)  # must not need a custom encoder
    back = json.loads(text)
    assert back["version"] == VERSION == "coherence-v2"
    assert isinstance(back["score"], float) and 0.0 <= back["score"] <= 1.0
    assert [b["kind"] for b in back["boundaries"]] == ["continuous", "cut", "continuous"]
    assert [b["verdict"] for b in back["boundaries"]] == ["continuous", "cut", "continuous"]
    assert [b["failed_handover"] for b in back["boundaries"]] == [False, False, False]
    assert all(s["internal_cuts"] == [] for s in back["scenes"])
    assert len(back["scenes"]) == 4
    assert back["scenes"][0]["style_to_prev"] is None
    restored = CoherenceReport.from_dict(back)
    assert restored.score == report.score
    assert format_report_table(restored) == format_report_table(report)


def test_report_png_from_report_and_dict(report: CoherenceReport, tmp_path: Path) -> None:
    for name, source in (("a.png", report), ("b.png", report.to_dict())):
        path = tmp_path / name
        render_report_png(source, path)
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.width >= 600 and image.height >= 250


def test_report_svg_is_inline_svg(report: CoherenceReport) -> None:
    svg = render_report_svg(report.to_dict())
    assert svg.lstrip().startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "continuous" in svg and "cut" in svg and "Coherence" in svg


def test_single_scene_report_renders(chained: list[Path], tmp_path: Path) -> None:
    single = score_clips([SceneClip(0, chained[0], False)])
    render_report_png(single, tmp_path / "one.png")
    assert "no boundaries" in format_report_table(single)
    assert "<svg" in render_report_svg(single)


def test_table_lists_every_scene_and_boundary(report: CoherenceReport) -> None:
    table = format_report_table(report)
    lines = table.splitlines()
    for s in report.scenes:
        assert any(line.split()[:1] == [str(s.index + 1)] for line in lines)
    for b in report.boundaries:
        numbered = f"{b.from_index + 1}->{b.to_index + 1}"
        assert any(numbered in line and b.kind in line for line in lines)
    assert f"score {report.score:.3f}" in table


def test_a_stored_v1_report_still_renders(tmp_path: Path) -> None:
    # Generations scored before v2 keep their coherence-v1 report; the admin and the staff page
    # must still draw it (missing v2 keys get neutral defaults).
    v1 = {
        "score": 0.87,
        "style": 0.8,
        "continuity": 0.95,
        "stability": 0.97,
        "version": "coherence-v1",
        "scenes": [
            {
                "index": i,
                "style_to_first": 1.0,
                "style_to_prev": None if i == 0 else 0.8,
                "style_mean": 0.8,
                "stability": 0.97,
                "flicker_mae": 1.3,
                "lab_mean": [50, 0, 0],
                "lab_std": [10, 5, 5],
                "frames": 8,
            }
            for i in range(2)
        ],
        "boundaries": [
            {
                "from_index": 0,
                "to_index": 1,
                "continuous": True,
                "kind": "continuous",
                "ssim": 0.96,
                "color_distance": 2.7,
                "continuity": 0.95,
                "style_similarity": 0.8,
            }
        ],
        "notes": [],
        "weights": {"style": 0.5, "continuity": 0.3, "stability": 0.2},
    }
    report = CoherenceReport.from_dict(v1)
    assert report.version == "coherence-v1"
    assert report.boundaries[0].verdict == "continuous" and not report.boundaries[0].failed_handover
    assert "score 0.870" in format_report_table(v1)
    assert "<svg" in render_report_svg(v1)
