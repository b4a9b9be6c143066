"""pipeline.localmodel: validation, determinism, visual DNA, latent handoff, output files."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from skimage.color import rgb2lab

from pipeline import localmodel as lm
from pipeline import media

# Small renders keep the suite fast; the model is resolution independent.
SMALL = {"width": 128, "height": 72, "fps": 12}
PROMPTS = [
    "ocean waves under a purple sky",
    "a red fox running through a snowy forest at dusk",
    "city lights at night",
    "a cat sleeping on a sofa",
]
SEEDS = [1, 2, 3, 4, 5, 11]


def request(
    prompt: str = PROMPTS[0], seed: int | None = 7, duration: float = 1.0, **kw
) -> lm.RenderRequest:
    return lm.RenderRequest(prompt=prompt, seed=seed, duration=duration, **{**SMALL, **kw})


def frames_of(req: lm.RenderRequest) -> list[np.ndarray]:
    frames, _final = lm.render_frames(req)
    return list(frames)


def mean_lab(frames: list[np.ndarray]) -> np.ndarray:
    pixels = np.stack(frames).reshape(-1, 1, 3) / 255.0
    return rgb2lab(pixels).reshape(-1, 3).mean(axis=0)


# --- validation -----------------------------------------------------------------------------

GOOD_LATENT = np.zeros(lm.latent_shape(128, 72), np.float32)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"duration": 0}, "duration"),
        ({"duration": -1.0}, "duration"),
        ({"duration": 61.0}, "at most 60"),
        ({"duration": float("nan")}, "duration"),
        ({"duration": 0.01}, "less than one frame"),
        ({"width": 127}, "even"),
        ({"height": 73}, "even"),
        ({"width": 32}, "64..1920"),
        ({"height": 2000}, "64..1920"),
        ({"fps": 0}, "fps"),
        ({"fps": 61}, "fps"),
        ({"prompt": "   "}, "prompt"),
        ({"seed": -1}, "seed"),
        ({"init_latent": np.zeros((4, 9, 15), np.float32)}, "shape"),
        ({"init_latent": GOOD_LATENT.astype(np.float64)}, "float32"),
        ({"init_latent": np.full_like(GOOD_LATENT, np.nan)}, "NaN"),
        ({"init_latent": GOOD_LATENT, "init_image": np.zeros((72, 128, 3), np.uint8)}, "not both"),
        ({"init_image": np.zeros((72, 128), np.uint8)}, "HxWx3"),
        ({"init_image": np.zeros((72, 128, 3), np.float32)}, "uint8"),
    ],
)
def test_validate_rejects_a_bad_request_with_a_clear_error(changes: dict, message: str) -> None:
    bad = replace(request(), **changes)
    with pytest.raises(ValueError, match=message):
        lm.validate(bad)


def test_render_validates_before_writing_anything(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        lm.render(request(duration=0), tmp_path, "x")
    assert list(tmp_path.iterdir()) == []


def test_validate_accepts_a_good_request_with_an_init_latent() -> None:
    lm.validate(request(init_latent=GOOD_LATENT))


def test_latent_shape_is_channels_by_an_eighth_of_the_frame() -> None:
    assert lm.latent_shape(512, 288) == (4, 36, 64)


# --- determinism ----------------------------------------------------------------------------


def test_same_request_gives_byte_identical_frames() -> None:
    first, second = frames_of(request()), frames_of(request())
    assert len(first) == 12
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_two_renders_of_the_same_request_decode_to_identical_frames(tmp_path: Path) -> None:
    a = lm.render(request(), tmp_path / "a", "s")
    b = lm.render(request(), tmp_path / "b", "s")
    assert media.sha256_file(a.video.path) == media.sha256_file(b.video.path)
    for fa, fb in zip(
        media.sample_frames(a.video.path, 4), media.sample_frames(b.video.path, 4), strict=True
    ):
        assert np.array_equal(fa, fb)
    assert np.array_equal(np.load(a.latent_path), np.load(b.latent_path))


def test_frames_move_over_time() -> None:
    frames = frames_of(request(duration=2.0))
    assert media.ssim(frames[0], frames[-1]) < 0.98
    assert float(np.abs(frames[0].astype(int) - frames[-1]).mean()) > 2


def test_no_seed_draws_a_fresh_seed_each_time(tmp_path: Path) -> None:
    a = lm.render(request(seed=None), tmp_path, "a")
    b = lm.render(request(seed=None), tmp_path, "b")
    assert a.seed != b.seed
    assert media.sha256_file(a.video.path) != media.sha256_file(b.video.path)
    # The reported seed reproduces the render.
    again = frames_of(request(seed=a.seed))
    assert np.array_equal(again[-1], media.load_png(a.last_frame_path))


def test_final_latent_is_available_only_after_the_frames_are_consumed() -> None:
    frames, final = lm.render_frames(request())
    with pytest.raises(RuntimeError):
        final()
    list(frames)
    assert final().shape == lm.latent_shape(128, 72)
    assert final().dtype == np.float32


# --- visual DNA -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def colour_stats() -> dict[int, list[np.ndarray]]:
    """Mean LAB colour of a short render for every (seed, prompt) pair."""
    return {
        seed: [mean_lab(frames_of(request(p, seed, 1.0, fps=6))) for p in PROMPTS] for seed in SEEDS
    }


def test_different_seeds_give_measurably_different_colours(colour_stats) -> None:
    cross = [
        np.linalg.norm(a - b)
        for s, t in itertools.combinations(SEEDS, 2)
        for a, b in zip(colour_stats[s], colour_stats[t], strict=True)  # same prompt, two seeds
    ]
    assert np.mean(cross) > 15  # mean LAB distance (a just-noticeable difference is ~2.3)
    assert np.median(cross) > 10


def test_same_seed_keeps_its_colours_across_prompts(colour_stats) -> None:
    within = [
        np.linalg.norm(a - b)
        for seed in SEEDS
        for a, b in itertools.combinations(colour_stats[seed], 2)
    ]
    cross = [
        np.linalg.norm(a - b)
        for s, t in itertools.combinations(SEEDS, 2)
        for a, b in zip(colour_stats[s], colour_stats[t], strict=True)
    ]
    assert np.mean(within) < 0.5 * np.mean(cross)


def test_each_seed_is_closer_to_itself_than_to_other_seeds_on_average(colour_stats) -> None:
    for seed in SEEDS:
        own = np.mean(
            [np.linalg.norm(a - b) for a, b in itertools.combinations(colour_stats[seed], 2)]
        )
        others = np.mean(
            [
                np.linalg.norm(a - b)
                for t in SEEDS
                if t != seed
                for a in colour_stats[seed]
                for b in colour_stats[t]
            ]
        )
        assert own < others, seed


def test_different_prompts_with_one_seed_give_different_content() -> None:
    a = frames_of(request(PROMPTS[0], 3))[0]
    b = frames_of(request(PROMPTS[1], 3))[0]
    assert media.ssim(a, b) < 0.9


# --- continuity -----------------------------------------------------------------------------


def test_a_scene_started_from_the_previous_latent_continues_its_last_frame(tmp_path: Path) -> None:
    prev = lm.render(request(PROMPTS[1], 7), tmp_path, "prev")
    latent = lm.load_latent(prev.latent_path)
    cont = lm.render(request(PROMPTS[2], 7, init_latent=latent), tmp_path, "cont")
    cut = lm.render(request(PROMPTS[2], 7), tmp_path, "cut")

    prev_last = media.last_frame(prev.video.path)
    handoff = media.ssim(prev_last, media.first_frame(cont.video.path))
    boundary = media.ssim(prev_last, media.first_frame(cut.video.path))

    assert handoff >= 0.9
    assert boundary < 0.85
    assert handoff - boundary > 0.1


def test_handoff_first_frame_equals_the_previous_last_frame_before_encoding() -> None:
    frames, final = lm.render_frames(request(PROMPTS[1], 7))
    last = list(frames)[-1]
    cont = frames_of(request(PROMPTS[2], 7, init_latent=final()))
    assert float(np.abs(cont[0].astype(int) - last).max()) <= 1


def test_a_continued_scene_drifts_toward_its_own_prompt() -> None:
    _frames, final = lm.render_frames(request(PROMPTS[1], 7))
    list(_frames)
    cont = frames_of(request(PROMPTS[2], 7, duration=3.0, init_latent=final()))
    own = frames_of(request(PROMPTS[2], 7, duration=3.0))
    assert media.ssim(cont[-1], own[-1]) > 0.99
    assert media.ssim(cont[0], own[0]) < 0.9


def test_init_image_render_opens_close_to_that_image(tmp_path: Path) -> None:
    image = frames_of(request(PROMPTS[3], 21))[-1]
    result = lm.render(request(PROMPTS[0], 5, init_image=image), tmp_path, "img")
    assert media.ssim(image, media.first_frame(result.video.path)) >= 0.9


def test_init_image_of_another_size_is_accepted() -> None:
    image = frames_of(request(PROMPTS[3], 21, width=256, height=256))[-1]
    frames = frames_of(request(PROMPTS[0], 5, init_image=image))
    assert frames[0].shape == (72, 128, 3)


def test_decode_of_encode_image_reproduces_a_rendered_frame() -> None:
    frame = frames_of(request(PROMPTS[1], 9))[5]
    back = lm.decode_latent(lm.encode_image(frame, 128, 72), 128, 72)
    assert media.ssim(frame, back) > 0.98
    assert float(np.abs(back.astype(int) - frame).mean()) < 1.5


def test_decode_of_encode_image_approximates_a_natural_image() -> None:
    ys, xs = np.mgrid[0:72, 0:128]
    image = np.stack([xs * 2, ys * 3, (xs + ys) % 256], axis=2).astype(np.uint8)
    back = lm.decode_latent(lm.encode_image(image, 128, 72), 128, 72)
    assert media.ssim(image, back) > 0.8


# --- output files ---------------------------------------------------------------------------


@pytest.mark.parametrize(("duration", "fps"), [(1.0, 12), (2.5, 10), (0.75, 24)])
def test_render_writes_a_valid_mp4_latent_and_last_frame(
    tmp_path: Path, duration: float, fps: int
) -> None:
    result = lm.render(request(duration=duration, fps=fps), tmp_path, "scene", metadata={"k": "v"})

    expected = round(duration * fps)
    assert result.video.path == tmp_path / "scene.mp4"
    assert result.frame_count == expected
    info = media.probe(result.video.path)
    assert (info.frame_count, info.width, info.height, info.fps) == (expected, 128, 72, fps)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert media.read_metadata(result.video.path) == {"k": "v"}
    assert result.latent_path == tmp_path / "scene.latent.npy"
    latent = np.load(result.latent_path)
    assert latent.shape == lm.latent_shape(128, 72) and latent.dtype == np.float32
    assert result.last_frame_path == tmp_path / "scene.last.png"
    last_png = media.load_png(result.last_frame_path)
    assert np.array_equal(last_png, lm.decode_latent(latent, 128, 72))
    assert media.ssim(last_png, media.last_frame(result.video.path)) > 0.9


def test_render_at_the_default_house_size_is_512_by_288() -> None:
    req = lm.RenderRequest(prompt="a quiet harbour", seed=1, duration=1 / 24)
    frames = frames_of(req)
    assert len(frames) == 1 and frames[0].shape == (288, 512, 3)
