"""Media toolkit on PyAV: encode, probe, frame access, concat, normalise, metadata, images.

Every clip this service writes uses one "house" encoding: H.264 (libx264), yuv420p, no B-frames,
a keyframe at least every second, ``+faststart`` and container metadata kept via
``use_metadata_tags``. Keeping one encoding everywhere is what lets ``concat`` join scenes by
stream copy instead of re-encoding them.

Every failure to read a file surfaces as :class:`MediaError` naming that file; PyAV's own
exceptions never escape, so callers have a single error type to map onto job failures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image
from skimage.metrics import structural_similarity

logger = logging.getLogger(__name__)

CODEC = "libx264"
PIX_FMT = "yuv420p"
# "veryfast" at CRF 23 encodes 512x288 several hundred frames a second on one core while staying
# visually clean; the local model's "5 s clip in 2 s" budget depends on this choice.
PRESET = "veryfast"
CRF = 23
_MOVFLAGS = "+faststart+use_metadata_tags"
# Keys the mp4 muxer adds on its own; they are not part of what a caller wrote.
_MUXER_KEYS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})


class MediaError(Exception):
    """A media file is missing, empty, truncated or not a usable video. The message names it."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    duration: float
    fps: float
    frame_count: int
    width: int
    height: int
    codec: str
    # Needed to decide whether clips can be joined by stream copy; defaulted so code that builds
    # a VideoInfo by hand (fakes, fixtures) does not have to care.
    pix_fmt: str = PIX_FMT
    time_base: Fraction | None = None
    # Read in the same demux pass as the frame count, so deciding "house format?" or "stream
    # copy?" opens the file no second time.
    keyframe_gap: int = 1  # longest run of frames from one keyframe to the next (or the end)
    extradata: bytes = b""  # the codec's SPS/PPS: stream copy needs one shared set
    has_b_frames: bool = False


@dataclass(frozen=True)
class VideoOutput(VideoInfo):
    """A VideoInfo for a file this module wrote, recording whether it was a stream copy."""

    copied: bool = False


# --------------------------------------------------------------------------------------------
# Opening files
# --------------------------------------------------------------------------------------------


@contextmanager
def _open_video(path: Path) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """Open ``path`` for reading and yield (container, first video stream).

    Every PyAV/OS failure inside the ``with`` block becomes a MediaError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(path, f"not a readable media file ({exc})") from exc
    try:
        if not container.streams.video:
            raise MediaError(path, "contains no video stream")
        yield container, container.streams.video[0]
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(path, f"could not be read ({exc})") from exc
    finally:
        container.close()


def _stream_fps(stream: av.VideoStream) -> Fraction | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else None


def _count_packets(
    container: av.container.InputContainer, stream: av.VideoStream
) -> tuple[int, int]:
    """(frames, longest keyframe gap in frames), from the packets alone (no decoding)."""
    count = gap = longest = 0
    for packet in container.demux(stream):
        if packet.size == 0:  # the final packet from demux() is an empty flush packet
            continue
        count += 1
        gap = 0 if packet.is_keyframe else gap + 1
        longest = max(longest, gap + 1)
    return count, longest


# --------------------------------------------------------------------------------------------
# Probe and frame access
# --------------------------------------------------------------------------------------------


def probe(path: Path) -> VideoInfo:
    """Describe a video. ``frame_count`` is exact: the index is checked against the real data."""
    path = Path(path)
    with _open_video(path) as (container, stream):
        fps = _stream_fps(stream)
        if not fps:
            raise MediaError(path, "video stream has no frame rate")
        ctx = stream.codec_context
        declared = stream.frames
        # Demuxing is cheap (no decoding) and catches a truncated file whose index (moov, which
        # +faststart puts at the front) still promises frames the file no longer holds.
        counted, keyframe_gap = _count_packets(container, stream)
        if counted == 0:
            raise MediaError(path, "video stream has no frames")
        if declared and counted < declared:
            raise MediaError(path, f"truncated: index lists {declared} frames, found {counted}")
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = counted / float(fps)
        return VideoInfo(
            path=path,
            duration=duration,
            fps=float(fps),
            frame_count=counted,
            width=ctx.width,
            height=ctx.height,
            codec=ctx.name,
            pix_fmt=ctx.pix_fmt or "",
            time_base=stream.time_base,
            keyframe_gap=keyframe_gap,
            extradata=bytes(ctx.extradata or b""),
            has_b_frames=bool(ctx.has_b_frames),
        )


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def _iter_frames(path: Path) -> Iterator[av.VideoFrame]:
    """Decode every frame of ``path`` in presentation order (errors become MediaError)."""
    with _open_video(path) as (container, stream):
        yield from container.decode(stream)


def first_frame(path: Path) -> np.ndarray:
    """The first frame as HxWx3 uint8 RGB."""
    for frame in _iter_frames(path):
        return _to_rgb(frame)
    raise MediaError(path, "no frame could be decoded")


def last_frame(path: Path) -> np.ndarray:
    """The last frame as HxWx3 uint8 RGB.

    Seeks to the keyframe before the end and decodes only from there, so the cost is bounded by
    the keyframe interval (at most one second for house-format clips), not the clip length.
    """
    path = Path(path)
    with _open_video(path) as (container, stream):
        end = _end_timestamp(container, stream)
        last: av.VideoFrame | None = None
        if end is not None:
            container.seek(end, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                last = frame
        if last is None:
            # No usable index/duration: fall back to a full decode rather than fail.
            container.seek(0, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                last = frame
        if last is None:
            raise MediaError(path, "no frame could be decoded")
        return _to_rgb(last)


def _end_timestamp(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    """A timestamp (stream time base) inside the last frame, for seeking."""
    start = stream.start_time or 0
    if stream.duration:
        return start + max(stream.duration - 1, 0)
    if container.duration and stream.time_base:
        seconds = Fraction(container.duration, av.time_base)
        return start + max(int(seconds / stream.time_base) - 1, 0)
    return None


def iter_frames_rgb(path: Path, *, max_side: int | None = None) -> Iterator[np.ndarray]:
    """Every frame in order as HxWx3 uint8 RGB, shrunk so the long side is at most ``max_side``.

    Shrinking happens in swscale (area filter) during the colour conversion, so analysing a 720p
    clip at 160 px costs little more than decoding it; the aspect ratio is kept.
    """
    # One reformatter for the whole clip keeps its swscale context: 2.5x faster than a fresh
    # context per frame (``frame.reformat``) at 256x144 -> 160x90.
    reformatter = VideoReformatter()
    for frame in _iter_frames(Path(path)):
        long_side = max(frame.width, frame.height)
        if max_side is None or long_side <= max_side:
            yield _to_rgb(frame)
            continue
        scale = max_side / long_side
        width = max(2, round(frame.width * scale))
        height = max(2, round(frame.height * scale))
        yield reformatter.reformat(
            frame, width=width, height=height, format="rgb24", interpolation="AREA"
        ).to_ndarray()


def _evenly_spaced(n: int, count: int) -> list[int]:
    if n == 1:
        return [(count - 1) // 2]
    return [round(i * (count - 1) / (n - 1)) for i in range(n)]


def sample_frames(path: Path, n: int) -> list[np.ndarray]:
    """``n`` evenly spaced frames in order; the first and last are included when ``n >= 2``.

    ``n == 1`` gives the middle frame. When ``n`` exceeds the frame count, frames repeat so the
    caller always gets exactly ``n``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    path = Path(path)
    info = probe(path)
    wanted = _evenly_spaced(n, info.frame_count)
    picks: list[np.ndarray] = []
    cursor = 0
    for index, frame in enumerate(_iter_frames(path)):
        # Only convert the frames we keep: RGB conversion is the expensive part.
        if index < wanted[cursor]:
            continue
        rgb = _to_rgb(frame)
        while cursor < len(wanted) and wanted[cursor] == index:
            picks.append(rgb)
            cursor += 1
        if cursor == len(wanted):
            break
    if len(picks) != n:
        raise MediaError(path, f"decoded fewer frames than the {info.frame_count} indexed")
    return picks


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def _check_frame(frame: np.ndarray, shape: tuple[int, ...] | None = None) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        got = getattr(frame, "shape", type(frame).__name__)
        raise ValueError(f"frames must be HxWx3 RGB arrays, got {got}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frame.dtype}")
    height, width = frame.shape[:2]
    if height % 2 or width % 2 or height == 0 or width == 0:
        # yuv420p subsamples chroma 2x2; odd sizes would be silently cropped or rejected later.
        raise ValueError(f"frame size must be even and non-zero, got {width}x{height}")
    if shape is not None and frame.shape != shape:
        raise ValueError(f"all frames must share one size: {frame.shape} != {shape}")


def _part_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


def _open_output(path: Path, metadata: dict[str, str] | None) -> av.container.OutputContainer:
    # mp4 is named explicitly because the temporary file's suffix is ".part".
    # bitexact: no "encoder: Lavf<version>" tag, so a file's bytes are a function of what is in
    # it (frames, recipe) and the x264 build, not of the muxer's version (docs/seed-control.md).
    container = av.open(
        str(path), "w", format="mp4", options={"movflags": _MOVFLAGS, "fflags": "+bitexact"}
    )
    for key, value in (metadata or {}).items():
        container.metadata[str(key)] = str(value)
    return container


def _add_house_stream(
    container: av.container.OutputContainer, width: int, height: int, fps: int, threads: int
) -> av.VideoStream:
    stream = container.add_stream(CODEC, rate=fps)
    stream.width = width
    stream.height = height
    stream.pix_fmt = PIX_FMT
    ctx = stream.codec_context
    ctx.time_base = Fraction(1, fps)
    # gop <= fps keeps a keyframe at least every second (bounded seeks, cut points); no B-frames
    # keeps decode order == presentation order so stream-copy concat only shifts timestamps.
    ctx.gop_size = fps
    ctx.max_b_frames = 0
    ctx.thread_count = threads
    ctx.options = {"preset": PRESET, "crf": str(CRF)}
    return stream


def encode(
    frames: Iterable[np.ndarray],
    path: Path,
    *,
    fps: int,
    metadata: dict[str, str] | None = None,
    threads: int = 0,
) -> VideoInfo:
    """Encode HxWx3 uint8 RGB frames to a house-format mp4 at ``path``.

    The file appears atomically (written beside it, then renamed), so a crash never leaves a
    half-written clip under the final name. ``threads=0`` lets x264 pick; benchmarks pass 1.
    """
    path = Path(path)
    if not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"no frames to encode into {path}")
    _check_frame(first)
    _write_frames(first, iterator, path, fps=fps, metadata=metadata, threads=threads)
    return probe(path)


def _write_frames(
    first: np.ndarray,
    rest: Iterator[np.ndarray],
    path: Path,
    *,
    fps: int,
    metadata: dict[str, str] | None,
    threads: int,
) -> None:
    height, width = first.shape[:2]
    part = _part_path(path)
    try:
        container = _open_output(part, metadata)
        try:
            stream = _add_house_stream(container, width, height, fps, threads)
            _encode_one(container, stream, first, 0)
            for index, frame in enumerate(rest, start=1):
                _check_frame(frame, first.shape)
                _encode_one(container, stream, frame, index)
            container.mux(stream.encode(None))
        finally:
            container.close()
        os.replace(part, path)
    except av.FFmpegError as exc:
        raise MediaError(path, f"encoding failed ({exc})") from exc
    finally:
        part.unlink(missing_ok=True)


def _encode_one(
    container: av.container.OutputContainer, stream: av.VideoStream, rgb: np.ndarray, index: int
) -> None:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame.pts = index
    frame.time_base = stream.codec_context.time_base
    container.mux(stream.encode(frame))


# --------------------------------------------------------------------------------------------
# Concat and normalise
# --------------------------------------------------------------------------------------------


def can_stream_copy(infos: Sequence[VideoInfo]) -> bool:
    """Whether clips share codec, size, fps, time base and pixel format (stream copy is safe)."""
    if not infos:
        return False
    first = infos[0]
    key = (first.codec, first.width, first.height, first.fps, first.time_base, first.pix_fmt)
    return first.time_base is not None and all(
        (i.codec, i.width, i.height, i.fps, i.time_base, i.pix_fmt) == key for i in infos
    )


def _copy_compatible(infos: Sequence[VideoInfo]) -> bool:
    if not can_stream_copy(infos):
        return False
    signatures = {(info.extradata, info.has_b_frames) for info in infos}
    # One shared SPS/PPS (the output keeps only the first clip's) and no B-frame reordering
    # (which would make shifted decode timestamps collide at the joins).
    return len(signatures) == 1 and not next(iter(signatures))[1]


def concat(
    paths: Sequence[Path],
    out_path: Path,
    *,
    metadata: dict[str, str] | None = None,
    reencode: bool = False,
) -> VideoOutput:
    """Join clips in order. Stream copy when they match (see ``can_stream_copy``), else re-encode.

    The result's ``copied`` attribute says which path was taken. ``reencode=True`` forces the
    decode + re-encode path (benchmarks; repairing clips whose joins a player rejects).
    """
    paths = [Path(p) for p in paths]
    out_path = Path(out_path)
    if not paths:
        raise ValueError(f"no clips to concatenate into {out_path}")
    infos = [probe(p) for p in paths]
    copied = not reencode and _copy_compatible(infos)
    if copied:
        _concat_copy(paths, out_path, metadata)
    else:
        first = infos[0]
        frames = _chain_resampled(infos, first.width, first.height, round(first.fps))
        encode(frames, out_path, fps=round(first.fps), metadata=metadata)
    logger.info(
        "concat %d clips into %s (%s)",
        len(paths),
        out_path,
        "stream copy" if copied else "re-encode",
    )
    return _as_output(probe(out_path), copied)


def _as_output(info: VideoInfo, copied: bool) -> VideoOutput:
    return VideoOutput(**{**info.__dict__, "copied": copied})


def _concat_copy(paths: Sequence[Path], out_path: Path, metadata: dict[str, str] | None) -> None:
    part = _part_path(out_path)
    try:
        container = _open_output(part, metadata)
        try:
            with _open_video(paths[0]) as (_c, template):
                ostream = container.add_stream_from_template(template)
            offset = 0
            for path in paths:
                offset = _copy_packets(path, container, ostream, offset)
        finally:
            container.close()
        os.replace(part, out_path)
    except av.FFmpegError as exc:
        raise MediaError(out_path, f"stream copy failed ({exc})") from exc
    finally:
        part.unlink(missing_ok=True)


def _copy_packets(
    path: Path, container: av.container.OutputContainer, ostream: av.VideoStream, offset: int
) -> int:
    """Mux ``path``'s packets shifted to start at ``offset``; return where the next clip starts.

    Each clip is rebased to its own first timestamp so the output starts at 0 and runs without
    gaps or overlaps, which is what browsers (Chromium) need to play across the joins.
    """
    with _open_video(path) as (source, stream):
        frame_ticks = _frame_ticks(stream)
        base: int | None = None
        end = offset
        for packet in source.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            if base is None:
                base = packet.pts
            duration = packet.duration or frame_ticks
            packet.pts = packet.pts - base + offset
            packet.dts = (packet.dts if packet.dts is not None else packet.pts) - base + offset
            end = max(end, packet.pts + duration)
            packet.stream = ostream
            container.mux(packet)
        return end


def _frame_ticks(stream: av.VideoStream) -> int:
    fps = _stream_fps(stream) or Fraction(24)
    return max(round(1 / (fps * stream.time_base)), 1)


def normalize(
    src: Path, dst: Path, *, width: int, height: int, fps: int, probed: VideoInfo | None = None
) -> VideoOutput:
    """Bring a clip to the house format at this size and fps (``probed``: ``src`` already probed).

    A clip that already matches (including the keyframe rule and no B-frames) is copied as is;
    anything else is decoded, scaled to cover the target and centre-cropped (no distortion, no
    letterbox), resampled to ``fps`` by nearest-frame picking and re-encoded.
    """
    src, dst = Path(src), Path(dst)
    _check_frame(np.zeros((height, width, 3), np.uint8))  # same size rules as encode, up front
    if not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    info = probed or probe(src)
    if in_house_format(info, width=width, height=height, fps=fps):
        part = _part_path(dst)
        shutil.copyfile(src, part)
        os.replace(part, dst)
        return _as_output(dataclasses.replace(info, path=dst), True)  # same bytes, no re-probe
    encode(_resampled(info, width, height, fps), dst, fps=fps)
    return _as_output(probe(dst), False)


def in_house_format(info: VideoInfo, *, width: int, height: int, fps: int) -> bool:
    """Whether a probed clip is already what ``normalize`` would make of it: h264, yuv420p, this
    size and rate, a keyframe at least every second, no B-frames."""
    if (info.codec, info.pix_fmt, info.width, info.height) != ("h264", PIX_FMT, width, height):
        return False
    if abs(info.fps - fps) > 1e-6:
        return False
    return not info.has_b_frames and info.keyframe_gap <= fps


def _resampled(info: VideoInfo, width: int, height: int, fps: int) -> Iterator[np.ndarray]:
    """Frames of one clip at the target size, resampled to ``fps`` by nearest-frame picking."""
    out_count = max(round(info.frame_count * fps / info.fps), 1)
    # Source index for every output frame; non-decreasing, so one sequential decode serves all.
    picks = [min(round(k * info.fps / fps), info.frame_count - 1) for k in range(out_count)]
    cursor = 0
    last: np.ndarray | None = None
    for index, frame in enumerate(_iter_frames(info.path)):
        if cursor < out_count and picks[cursor] == index:
            last = _cover_resize(frame, width, height)
        while cursor < out_count and picks[cursor] == index:
            yield last
            cursor += 1
        if cursor == out_count:
            return
    # The index promised more frames than decoded: hold the last one rather than come up short.
    while last is not None and cursor < out_count:
        yield last
        cursor += 1


def _chain_resampled(
    infos: Sequence[VideoInfo], width: int, height: int, fps: int
) -> Iterator[np.ndarray]:
    for info in infos:
        yield from _resampled(info, width, height, fps)


def cover_geometry(
    source_width: int, source_height: int, width: int, height: int
) -> tuple[int, int, int, int]:
    """How to make a picture cover width x height: the scaled size, then the centre crop's
    top-left corner, as (scaled_width, scaled_height, top, left)."""
    scale = max(width / source_width, height / source_height)
    scaled_w = max(width, round(source_width * scale))
    scaled_h = max(height, round(source_height * scale))
    return scaled_w, scaled_h, (scaled_h - height) // 2, (scaled_w - width) // 2


def _cover_resize(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """Scale (swscale) so the frame covers width x height, then centre-crop."""
    if (frame.width, frame.height) == (width, height):
        return _to_rgb(frame)
    scaled_w, scaled_h, top, left = cover_geometry(frame.width, frame.height, width, height)
    rgb = frame.reformat(width=scaled_w, height=scaled_h, format="rgb24").to_ndarray()
    return np.ascontiguousarray(rgb[top : top + height, left : left + width])


# --------------------------------------------------------------------------------------------
# Metadata, images, hashes, similarity
# --------------------------------------------------------------------------------------------


def read_metadata(path: Path) -> dict[str, str]:
    """Container metadata as written by ``encode``/``concat`` (muxer bookkeeping keys dropped)."""
    with _open_video(path) as (container, _stream):
        return {k: v for k, v in container.metadata.items() if k not in _MUXER_KEYS}


def save_png(frame: np.ndarray, path: Path) -> None:
    """Write an HxWx3 uint8 RGB frame as PNG (atomically)."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB array, got {getattr(frame, 'shape', frame)}")
    if frame.dtype != np.uint8:
        raise ValueError(f"expected uint8, got {frame.dtype}")
    path = Path(path)
    part = _part_path(path)
    try:
        Image.fromarray(frame, mode="RGB").save(part, format="PNG")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def load_png(path: Path) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB (alpha/greyscale are converted)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file does not exist")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError) as exc:
        raise MediaError(path, f"not a readable image ({exc})") from exc


def sha256_file(path: Path) -> str:
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise MediaError(path, f"could not be read ({exc})") from exc
    return digest.hexdigest()


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two same-size RGB uint8 frames, in [-1, 1] (1 = identical)."""
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} vs {b.shape}")
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))
