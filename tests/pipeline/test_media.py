"""pipeline.media against real files written to tmp_path (no Django, no database)."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline import media

FPS = 12
W, H = 96, 64


def flat_level(index: int) -> int:
    """A grey level unique to each frame index (within 32 frames), steps of 7 to survive x264."""
    return 16 + (index * 7) % 224


def flat_frames(count: int, width: int = W, height: int = H) -> list[np.ndarray]:
    return [np.full((height, width, 3), flat_level(i), np.uint8) for i in range(count)]


def smooth_frames(count: int, width: int = W, height: int = H) -> list[np.ndarray]:
    """Smooth moving gradients: content x264 reproduces closely at CRF 23."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        r = 128 + 90 * np.sin((xs + 3 * i) / width * 2 * np.pi)
        g = 128 + 90 * np.cos((ys + 2 * i) / height * 2 * np.pi)
        b = np.full_like(xs, 40 + (i * 5) % 180)
        frames.append(np.stack([r, g, b], axis=2).astype(np.uint8))
    return frames


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [p for p in container.demux(stream) if p.size > 0]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    media.encode(smooth_frames(30), path, fps=FPS)
    return path


# --- encode / probe -------------------------------------------------------------------------


def test_encode_then_probe_reports_fps_size_frame_count_codec_and_pix_fmt(tmp_path: Path) -> None:
    info = media.encode(smooth_frames(30), tmp_path / "a.mp4", fps=FPS)
    probed = media.probe(tmp_path / "a.mp4")
    assert probed == info
    assert (probed.fps, probed.width, probed.height, probed.frame_count) == (FPS, W, H, 30)
    assert probed.codec == "h264"
    assert probed.pix_fmt == "yuv420p"
    assert probed.duration == pytest.approx(30 / FPS, abs=1e-3)


def test_encode_puts_a_keyframe_at_least_every_second(tmp_path: Path) -> None:
    # Static content: x264 adds no scene-cut keyframes, so only the gop setting places them.
    path = tmp_path / "static.mp4"
    media.encode([np.full((H, W, 3), 90, np.uint8)] * (FPS * 5), path, fps=FPS)
    keyframes = [i for i, p in enumerate(packets(path)) if p.is_keyframe]
    gaps = np.diff([*keyframes, FPS * 5])
    assert keyframes[0] == 0
    assert gaps.max() <= FPS
    assert media.probe(path).keyframe_gap <= FPS


def test_encode_writes_no_b_frames_so_decode_order_is_presentation_order(clip: Path) -> None:
    assert all(p.pts == p.dts for p in packets(clip))


def test_encode_accepts_a_lazy_generator(tmp_path: Path) -> None:
    def frames() -> Iterator[np.ndarray]:
        yield from smooth_frames(5)

    assert media.encode(frames(), tmp_path / "g.mp4", fps=FPS).frame_count == 5


def test_encode_rejects_odd_sizes_before_writing_anything(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        media.encode([np.zeros((63, 96, 3), np.uint8)], tmp_path / "odd.mp4", fps=FPS)
    assert list(tmp_path.iterdir()) == []


def test_encode_rejects_an_empty_frame_iterable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no frames"):
        media.encode(iter([]), tmp_path / "empty.mp4", fps=FPS)
    assert list(tmp_path.iterdir()) == []


def test_encode_rejects_a_frame_of_another_size_and_leaves_no_partial_file(tmp_path: Path) -> None:
    frames = [*smooth_frames(3), np.zeros((32, 32, 3), np.uint8)]
    with pytest.raises(ValueError, match="one size"):
        media.encode(frames, tmp_path / "mixed.mp4", fps=FPS)
    assert list(tmp_path.iterdir()) == []


def test_encode_rejects_non_uint8_frames(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        media.encode([np.zeros((H, W, 3), np.float32)], tmp_path / "f.mp4", fps=FPS)


# --- frame access ---------------------------------------------------------------------------


def test_first_and_last_frame_match_the_frames_encoded(tmp_path: Path) -> None:
    frames = smooth_frames(30)
    path = tmp_path / "a.mp4"
    media.encode(frames, path, fps=FPS)
    assert mean_abs_diff(media.first_frame(path), frames[0]) < 4
    assert mean_abs_diff(media.last_frame(path), frames[-1]) < 4
    assert media.ssim(media.last_frame(path), frames[-1]) > 0.9


def test_last_frame_of_a_long_clip_is_the_final_frame_not_a_neighbour(tmp_path: Path) -> None:
    count = FPS * 40  # 40 s: forty keyframe intervals to seek across
    frames = flat_frames(count, 64, 48)
    path = tmp_path / "long.mp4"
    media.encode(frames, path, fps=FPS)
    got = media.last_frame(path)
    diffs = [mean_abs_diff(got, frames[i]) for i in range(count - 5, count)]
    assert int(np.argmin(diffs)) == 4
    assert diffs[-1] < 2


def test_sample_frames_returns_n_evenly_spaced_frames_in_order(tmp_path: Path) -> None:
    frames = flat_frames(25)
    path = tmp_path / "s.mp4"
    media.encode(frames, path, fps=FPS)
    picks = media.sample_frames(path, 5)
    assert len(picks) == 5
    for pick, index in zip(picks, [0, 6, 12, 18, 24], strict=True):
        assert abs(int(pick.mean()) - flat_level(index)) <= 2


def test_sample_frames_with_more_samples_than_frames_repeats_frames(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    media.encode(flat_frames(3), path, fps=FPS)
    assert len(media.sample_frames(path, 7)) == 7


def test_sample_frames_rejects_zero(clip: Path) -> None:
    with pytest.raises(ValueError):
        media.sample_frames(clip, 0)


# --- concat ---------------------------------------------------------------------------------


def test_concat_of_matching_clips_stream_copies_with_rebased_timestamps(tmp_path: Path) -> None:
    counts = [24, 30, 18]
    paths = []
    for i, count in enumerate(counts):
        paths.append(tmp_path / f"c{i}.mp4")
        media.encode(smooth_frames(count), paths[-1], fps=FPS)
    assert media.can_stream_copy([media.probe(p) for p in paths])

    out = media.concat(paths, tmp_path / "out.mp4")

    assert out.copied is True
    assert out.frame_count == sum(counts)
    assert out.duration == pytest.approx(sum(counts) / FPS, abs=1e-3)
    pts = [p.pts for p in packets(out.path)]
    dts = [p.dts for p in packets(out.path)]
    assert pts[0] == 0 and dts[0] == 0
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert all(b > a for a, b in itertools.pairwise(dts))


def test_concat_stream_copy_decodes_every_frame_across_the_joins(tmp_path: Path) -> None:
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    media.encode(flat_frames(20), first, fps=FPS)
    media.encode([np.full((H, W, 3), 230, np.uint8)] * 10, second, fps=FPS)
    out = media.concat([first, second], tmp_path / "ab.mp4")
    decoded = media.sample_frames(out.path, out.frame_count)
    assert len(decoded) == 30
    assert abs(int(decoded[19].mean()) - flat_level(19)) <= 2
    assert abs(int(decoded[20].mean()) - 230) <= 2


def test_concat_of_mismatched_clips_re_encodes_with_the_right_frame_count(tmp_path: Path) -> None:
    small, large = tmp_path / "small.mp4", tmp_path / "large.mp4"
    media.encode(smooth_frames(20), small, fps=FPS)
    media.encode(smooth_frames(16, 128, 72), large, fps=FPS)
    assert not media.can_stream_copy([media.probe(small), media.probe(large)])

    out = media.concat([small, large], tmp_path / "out.mp4")

    assert out.copied is False
    assert out.frame_count == 36
    assert (out.width, out.height, out.fps) == (W, H, FPS)
    assert media.probe(out.path).keyframe_gap <= FPS


def test_can_stream_copy_requires_equal_codec_size_fps_time_base_and_pix_fmt() -> None:
    base = media.VideoInfo(Path("a"), 1.0, 24.0, 24, 64, 64, "h264", "yuv420p", Fraction(1, 12288))
    assert media.can_stream_copy([base, base])
    for change in (
        {"codec": "hevc"},
        {"width": 128},
        {"fps": 25.0},
        {"time_base": Fraction(1, 90000)},
        {"pix_fmt": "yuv444p"},
    ):
        other = media.VideoInfo(**{**base.__dict__, **change})
        assert not media.can_stream_copy([base, other]), change
    assert not media.can_stream_copy([])


def test_concat_rejects_an_empty_list(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        media.concat([], tmp_path / "out.mp4")


# --- normalize ------------------------------------------------------------------------------


def test_normalize_re_encodes_a_foreign_clip_to_the_house_format(tmp_path: Path) -> None:
    src = tmp_path / "foreign.mp4"
    media.encode(smooth_frames(30, 160, 90), src, fps=30)  # 1 s at 30 fps, 16:9, other size

    out = media.normalize(src, tmp_path / "house.mp4", width=W, height=H, fps=FPS)

    assert out.copied is False
    assert (out.width, out.height, out.fps) == (W, H, FPS)
    assert (out.codec, out.pix_fmt) == ("h264", "yuv420p")
    assert out.frame_count == 12  # same 1 s of content at the new rate
    assert media.probe(out.path).keyframe_gap <= FPS


def test_normalize_copies_a_clip_already_in_house_format(clip: Path, tmp_path: Path) -> None:
    out = media.normalize(clip, tmp_path / "copy.mp4", width=W, height=H, fps=FPS)
    assert out.copied is True
    assert media.sha256_file(out.path) == media.sha256_file(clip)


# --- metadata -------------------------------------------------------------------------------


def test_metadata_written_by_encode_round_trips_exactly(tmp_path: Path) -> None:
    recipe = json.dumps({"prompt": "a fox in snow — «quoted»", "seed": 42, "scenes": [1, 2]})
    metadata = {"coherence_recipe": recipe, "coherence_scene": "3"}
    media.encode(smooth_frames(4), tmp_path / "m.mp4", fps=FPS, metadata=metadata)
    assert media.read_metadata(tmp_path / "m.mp4") == metadata
    assert json.loads(media.read_metadata(tmp_path / "m.mp4")["coherence_recipe"])["seed"] == 42


def test_metadata_written_by_concat_round_trips_on_both_paths(tmp_path: Path) -> None:
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    media.encode(smooth_frames(4), a, fps=FPS, metadata={"scene": "a"})
    media.encode(smooth_frames(4, 64, 64), b, fps=FPS)
    meta = {"coherence_recipe": '{"v": 1}'}
    copied = media.concat([a, a], tmp_path / "copy.mp4", metadata=meta)
    encoded = media.concat([a, b], tmp_path / "enc.mp4", metadata=meta)
    assert (copied.copied, encoded.copied) == (True, False)
    assert media.read_metadata(copied.path) == meta
    assert media.read_metadata(encoded.path) == meta


# --- errors ---------------------------------------------------------------------------------

READERS = [media.probe, media.first_frame, media.last_frame, media.read_metadata]


@pytest.mark.parametrize("reader", READERS, ids=lambda f: f.__name__)
def test_a_missing_file_raises_media_error_naming_it(reader, tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    with pytest.raises(media.MediaError, match=r"nope\.mp4"):
        reader(path)


@pytest.mark.parametrize("reader", READERS, ids=lambda f: f.__name__)
def test_an_empty_file_raises_media_error_naming_it(reader, tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(media.MediaError, match=r"empty\.mp4"):
        reader(path)


@pytest.mark.parametrize("reader", READERS, ids=lambda f: f.__name__)
def test_a_non_video_file_raises_media_error_naming_it(reader, tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(media.MediaError, match=r"notes\.mp4"):
        reader(path)


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.9])
def test_probe_of_a_truncated_file_raises_media_error_naming_it(
    clip: Path, tmp_path: Path, keep: float
) -> None:
    data = clip.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(media.MediaError, match=r"cut\.mp4"):
        media.probe(path)


def test_last_frame_of_a_truncated_file_raises_media_error(clip: Path, tmp_path: Path) -> None:
    data = clip.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(media.MediaError, match=r"cut\.mp4"):
        media.last_frame(path)


def test_concat_names_the_bad_input_among_good_ones(clip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(media.MediaError, match=r"bad\.mp4"):
        media.concat([clip, bad], tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


# --- images, hashes, ssim -------------------------------------------------------------------


def test_png_round_trip_is_lossless(tmp_path: Path) -> None:
    frame = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    media.save_png(frame, tmp_path / "f.png")
    assert np.array_equal(media.load_png(tmp_path / "f.png"), frame)


def test_load_png_of_a_missing_file_raises_media_error(tmp_path: Path) -> None:
    with pytest.raises(media.MediaError, match=r"gone\.png"):
        media.load_png(tmp_path / "gone.png")


def test_sha256_file_matches_hashlib(clip: Path) -> None:
    assert media.sha256_file(clip) == hashlib.sha256(clip.read_bytes()).hexdigest()


def test_ssim_is_one_for_identical_frames_and_lower_for_different_ones() -> None:
    a = smooth_frames(1)[0]
    noise = np.random.default_rng(1).integers(0, 256, a.shape, dtype=np.uint8)
    assert media.ssim(a, a) == pytest.approx(1.0)
    assert media.ssim(a, noise) < 0.2
    with pytest.raises(ValueError):
        media.ssim(a, a[:10])


def test_iter_frames_rgb_shrinks_every_frame_keeping_the_aspect(clip: Path) -> None:
    info = media.probe(clip)
    full = list(media.iter_frames_rgb(clip))
    small = list(media.iter_frames_rgb(clip, max_side=info.width // 2))
    assert len(full) == len(small) == info.frame_count
    assert full[0].shape == (info.height, info.width, 3)
    assert small[0].shape == (info.height // 2, info.width // 2, 3)
    # An area filter: the shrunk frame is the full frame's block average (up to rounding).
    h, w = small[0].shape[:2]
    blocks = full[3][: 2 * h, : 2 * w].reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
    assert mean_abs_diff(small[3], blocks.astype(np.uint8)) < 2.0


def test_probe_reads_the_keyframe_gap_and_codec_signature_in_its_one_pass(tmp_path: Path) -> None:
    path = tmp_path / "moving.mp4"
    media.encode(smooth_frames(FPS * 3), path, fps=FPS)
    keyframes = [i for i, p in enumerate(packets(path)) if p.is_keyframe]
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        extradata, has_b_frames = bytes(ctx.extradata), bool(ctx.has_b_frames)

    info = media.probe(path)

    assert info.keyframe_gap == max(np.diff([*keyframes, FPS * 3]))
    assert (info.extradata, info.has_b_frames) == (extradata, has_b_frames)
    assert extradata and has_b_frames is False  # the house format: SPS/PPS present, no B-frames


def test_a_clip_already_in_the_house_format_is_recognised_and_others_are_not(
    tmp_path: Path,
) -> None:
    house = tmp_path / "house.mp4"
    media.encode(smooth_frames(FPS), house, fps=FPS)
    other = tmp_path / "other.mp4"
    media.encode(smooth_frames(30, 160, 90), other, fps=30)

    assert media.in_house_format(media.probe(house), width=W, height=H, fps=FPS)
    assert not media.in_house_format(media.probe(house), width=W, height=H, fps=FPS * 2)
    assert not media.in_house_format(media.probe(house), width=W * 2, height=H, fps=FPS)
    assert not media.in_house_format(media.probe(other), width=W, height=H, fps=FPS)
