"""The built-in deterministic text-to-video model.

It works like a (very small) latent video model: each frame is a latent of shape
``(LATENT_CHANNELS, height // LATENT_SCALE, width // LATENT_SCALE)`` that evolves over time and
is decoded to RGB by a fixed, seed-independent decoder (bicubic upsampling + a linear colour
transform). Because the decoder is fixed and linear up to clipping, it has a least-squares
inverse, ``encode_image``, which is how an initial image (the hosted-model path) enters latent
space, and a scene that starts from a predecessor's final latent opens on exactly the frame the
predecessor ended on.

* The **seed** is the visual DNA: a palette (in latent space), and texture statistics (a bank of
  drifting plane waves: frequency band, orientations, phases, amplitude).
* The **prompt** is the content and motion: every content word becomes a soft blob (position,
  size, palette colour, orbit) and the words together set the camera pan, the horizon and a
  brightness envelope. Prompts sharing words share those blobs.

Everything is vectorised numpy in float32 at latent resolution; only the decode touches full
resolution, as two small matrix products per frame.
"""

from __future__ import annotations

import colorsys
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import media

LATENT_CHANNELS = 4
LATENT_SCALE = 8

MIN_SIZE = 64
MAX_SIZE = 1920
MIN_FPS = 1
MAX_FPS = 60
MAX_DURATION = 60.0
MAX_SEED = 2**63 - 1

# Fixed decoder colour transform: latent channels -> RGB offsets around mid grey. Channel 0 is
# luminance, 1 red/cyan, 2 blue/yellow, 3 a warm/cool tint. Rank 3, so a pseudo-inverse exists.
_DECODE_MATRIX = np.array(
    [
        [0.20, 0.16, -0.04, 0.05],
        [0.20, -0.10, -0.06, 0.02],
        [0.20, -0.04, 0.18, -0.06],
    ],
    dtype=np.float32,
)
_DECODE_MATRIX_255 = _DECODE_MATRIX * np.float32(255.0)
_ENCODE_MATRIX = np.linalg.pinv(_DECODE_MATRIX.astype(np.float64)).astype(np.float32)
_DECODE_OFFSET = 0.5

# Words too common to say anything about content; they would otherwise each become a blob.
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "and",
        "or",
        "with",
        "from",
        "by",
        "for",
        "into",
        "over",
        "under",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "very",
    }
)
_MAX_BLOBS = 8
_N_WAVES = 12
_PALETTE_SIZE = 5


@dataclass(frozen=True)
class RenderRequest:
    prompt: str
    seed: int | None
    duration: float
    fps: int = 24
    width: int = 512
    height: int = 288
    init_latent: np.ndarray | None = None
    init_image: np.ndarray | None = None


@dataclass(frozen=True)
class RenderResult:
    video: media.VideoInfo
    latent_path: Path
    last_frame_path: Path
    seed: int
    frame_count: int


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def latent_shape(width: int, height: int) -> tuple[int, int, int]:
    return (LATENT_CHANNELS, height // LATENT_SCALE, width // LATENT_SCALE)


def frame_count(request: RenderRequest) -> int:
    return round(request.duration * request.fps)


def validate(request: RenderRequest) -> None:
    """Raise ValueError describing the first problem with ``request``; cheap, does no rendering."""
    _validate_prompt_and_seed(request)
    _validate_timing(request)
    _validate_size(request.width, request.height)
    _validate_init(request)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _validate_prompt_and_seed(request: RenderRequest) -> None:
    if not isinstance(request.prompt, str) or not request.prompt.strip():
        raise ValueError("prompt must be a non-empty string")
    seed = request.seed
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= MAX_SEED):
        raise ValueError(f"seed must be an integer in 0..{MAX_SEED} or None, got {request.seed!r}")


def _validate_timing(request: RenderRequest) -> None:
    if not _is_int(request.fps) or not MIN_FPS <= request.fps <= MAX_FPS:
        raise ValueError(f"fps must be an integer in {MIN_FPS}..{MAX_FPS}, got {request.fps!r}")
    duration = request.duration
    is_number = isinstance(duration, int | float | np.floating)
    if not is_number or not np.isfinite(duration) or duration <= 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    if duration > MAX_DURATION:
        raise ValueError(f"duration must be at most {MAX_DURATION:g} s, got {duration:g}")
    if frame_count(request) < 1:
        raise ValueError(f"duration {duration:g} s at {request.fps} fps is less than one frame")


def _validate_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if not _is_int(value):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if not MIN_SIZE <= value <= MAX_SIZE:
            raise ValueError(f"{name} must be in {MIN_SIZE}..{MAX_SIZE}, got {value}")
        if value % 2:
            raise ValueError(f"{name} must be even (H.264 yuv420p), got {value}")


def _validate_init(request: RenderRequest) -> None:
    latent, image = request.init_latent, request.init_image
    if latent is not None and image is not None:
        raise ValueError("give init_latent or init_image, not both")
    if latent is not None:
        expected = latent_shape(request.width, request.height)
        if not isinstance(latent, np.ndarray) or latent.shape != expected:
            got = getattr(latent, "shape", type(latent).__name__)
            raise ValueError(f"init_latent must have shape {expected}, got {got}")
        if latent.dtype != np.float32:
            raise ValueError(f"init_latent must be float32, got {latent.dtype}")
        if not np.isfinite(latent).all():
            raise ValueError("init_latent contains NaN or infinite values")
    if image is not None:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            got = getattr(image, "shape", type(image).__name__)
            raise ValueError(f"init_image must be an HxWx3 RGB array, got {got}")
        if image.dtype != np.uint8 or min(image.shape[:2]) < 2:
            raise ValueError(f"init_image must be uint8 and at least 2x2, got {image.dtype}")


def resolve_seed(request: RenderRequest) -> RenderRequest:
    """The request with a concrete seed: ``None`` becomes a fresh random one (so results vary)."""
    if request.seed is not None:
        return request
    return replace(request, seed=secrets.randbelow(MAX_SEED + 1))


# --------------------------------------------------------------------------------------------
# Decoder / encoder (fixed, seed independent)
# --------------------------------------------------------------------------------------------


def _cubic_weights(distance: np.ndarray) -> np.ndarray:
    """Keys bicubic kernel (a = -0.5): interpolating and smooth, so blobs stay soft, not blocky."""
    d = np.abs(distance)
    a = -0.5
    near = (a + 2) * d**3 - (a + 3) * d**2 + 1
    far = a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


@lru_cache(maxsize=32)
def _upsample_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) bicubic interpolation matrix, pixel centres aligned, edges clamped."""
    source = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    base = np.floor(source).astype(int)
    for tap in range(-1, 3):
        index = base + tap
        weight = _cubic_weights(source - index)
        np.add.at(matrix, (np.arange(n_out), np.clip(index, 0, n_in - 1)), weight)
    matrix /= matrix.sum(axis=1, keepdims=True)
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=32)
def _upsample_matrix_t(n_out: int, n_in: int) -> np.ndarray:
    """Contiguous transpose of the upsampler, for right-multiplication."""
    matrix = np.ascontiguousarray(_upsample_matrix(n_out, n_in).T)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=32)
def _downsample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Least-squares inverse of the upsampler: the latent whose decode best matches an image."""
    pinv = np.linalg.pinv(_upsample_matrix(n_in, n_out).astype(np.float64)).astype(np.float32)
    pinv.setflags(write=False)
    return pinv


def decode_latent(latent: np.ndarray, width: int, height: int) -> np.ndarray:
    """Latent (C, h, w) -> HxWx3 uint8 RGB frame of the requested size."""
    if latent.ndim != 3 or latent.shape[0] != LATENT_CHANNELS:
        raise ValueError(f"latent must have shape ({LATENT_CHANNELS}, h, w), got {latent.shape}")
    _, h, w = latent.shape
    # Everything before the clip is linear, and each upsampler row sums to 1, so the colour
    # transform, the 0..255 scale and the offset are all applied at latent resolution (64x fewer
    # pixels). The extra +0.5 makes the truncating uint8 cast round to nearest.
    colour = np.tensordot(_DECODE_MATRIX_255, latent.astype(np.float32, copy=False), axes=1)
    colour += np.float32(_DECODE_OFFSET * 255.0 + 0.5)
    # Widen first: (h x w)->(h x W) then (h x W)->(H x W) is ~40% fewer flops than the reverse.
    up = _upsample_matrix(height, h) @ (colour @ _upsample_matrix_t(width, w))
    np.clip(up, 0.0, 255.0, out=up)
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame.transpose(2, 0, 1)[...] = up  # planar -> packed RGB in the same pass as the cast
    return frame


def encode_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """RGB frame -> latent for a width x height render: decode(encode(img)) ~ img.

    An image of another size is scaled to cover the frame and centre-cropped first.
    """
    _validate_size(width, height)
    rgb = _cover_resize(image, width, height).astype(np.float32) / 255.0 - _DECODE_OFFSET
    _, h, w = latent_shape(width, height)
    colour = _downsample_matrix(height, h) @ rgb.transpose(2, 0, 1) @ _downsample_matrix(width, w).T
    return np.tensordot(_ENCODE_MATRIX, colour, axes=1).astype(np.float32)


def _cover_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The array counterpart of ``media``'s frame resize (PIL instead of swscale), same geometry."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
    if image.shape[:2] == (height, width):
        return image
    scaled_w, scaled_h, top, left = media.cover_geometry(
        image.shape[1], image.shape[0], width, height
    )
    scaled = np.asarray(
        Image.fromarray(image).resize((scaled_w, scaled_h), Image.Resampling.BICUBIC)
    )
    return scaled[top : top + height, left : left + width]


def _rgb_to_latent_colour(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] (..., 3) -> the latent vector (..., 4) that decodes to it."""
    return ((rgb - _DECODE_OFFSET) @ _ENCODE_MATRIX.T).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Seed: visual DNA
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dna:
    palette: np.ndarray  # (P, 4) latent colours; 0/1 = background top/bottom, rest = objects
    wave_vectors: np.ndarray  # (K, 2) spatial frequencies in radians per frame height
    wave_phases: np.ndarray  # (K,)
    wave_speeds: np.ndarray  # (K,) temporal phase drift, radians per second
    wave_amps: np.ndarray  # (4, K) latent amplitude of each wave


def _seed_dna(seed: int) -> _Dna:
    rng = np.random.default_rng(seed)
    palette = _seed_palette(rng)
    # Texture statistics: one frequency band and strength per seed; orientations/phases random.
    # The band stays well below the latent grid's Nyquist limit (h/2 cycles per frame height)
    # so texture reads as soft mottling, not as a moire of latent cells.
    low = rng.uniform(1.0, 3.0)
    cycles = rng.uniform(low, low * 2.5, _N_WAVES)
    angles = rng.uniform(0, np.pi, _N_WAVES)
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1) * (cycles * 2 * np.pi)[:, None]
    strength = rng.uniform(0.25, 0.6)
    # 1/f amplitudes, like natural images: broad shading dominates, finer detail is subtler.
    falloff = low / cycles
    amps = rng.normal(0.0, 1.0, (LATENT_CHANNELS, _N_WAVES)) * falloff * strength
    amps /= np.sqrt(_N_WAVES)
    amps[0] *= 1.6  # texture reads mostly as light and shade, less as colour noise
    return _Dna(
        palette=palette,
        wave_vectors=vectors.astype(np.float32),
        wave_phases=rng.uniform(0, 2 * np.pi, _N_WAVES).astype(np.float32),
        wave_speeds=rng.uniform(-1.5, 1.5, _N_WAVES).astype(np.float32),
        wave_amps=amps.astype(np.float32),
    )


def _seed_palette(rng: np.random.Generator) -> np.ndarray:
    """A harmonious palette: one base hue and a scheme of hue offsets, all chosen by the seed."""
    base = rng.uniform()
    schemes = (
        (0.0, 0.05, 0.5, 0.55, 0.1),
        (0.0, 0.33, 0.66, 0.08, 0.41),
        (0.0, 0.08, 0.16, -0.08, 0.5),
        (0.0, 0.5, 0.25, 0.75, 0.03),
    )
    offsets = schemes[rng.integers(len(schemes))]
    saturation = rng.uniform(0.35, 0.85)
    value = rng.uniform(0.45, 0.85)
    colours = []
    for index, offset in enumerate(offsets[:_PALETTE_SIZE]):
        # Background colours are darker/softer; object colours brighter, so objects read.
        sat = saturation * (0.8 if index < 2 else 1.0)
        val = value * (0.55 + 0.25 * index / _PALETTE_SIZE) if index < 2 else value
        hue = (base + offset + rng.normal(0, 0.02)) % 1.0
        colours.append(colorsys.hsv_to_rgb(hue, sat, min(val + rng.uniform(0, 0.1), 0.95)))
    return _rgb_to_latent_colour(np.array(colours, dtype=np.float32))


# --------------------------------------------------------------------------------------------
# Prompt: content and motion
# --------------------------------------------------------------------------------------------


def _hash_unit(text: str, count: int) -> np.ndarray:
    """``count`` deterministic numbers in [0, 1) from ``text`` (stable across runs/platforms)."""
    out: list[float] = []
    counter = 0
    while len(out) < count:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend(np.frombuffer(digest, dtype=">u4") / 2.0**32)
        counter += 1
    return np.array(out[:count], dtype=np.float64)


def _content_words(prompt: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", prompt.lower())
    content = [w for w in words if w not in _STOPWORDS]
    unique = list(dict.fromkeys(content or words or [prompt.strip().lower()]))
    return unique[:_MAX_BLOBS]


@dataclass(frozen=True)
class _Blob:
    centre: np.ndarray  # (2,) x, y in frame-height units
    radius: float
    colour_index: int
    orbit: np.ndarray  # (2,) orbit radii
    orbit_speed: float  # radians per second
    phase: float
    strength: float


@dataclass(frozen=True)
class _Content:
    blobs: tuple[_Blob, ...]
    pan: np.ndarray  # (2,) camera velocity, frame heights per second
    horizon: float
    pulse_amp: float
    pulse_speed: float


def _word_blob(word: str, aspect: float) -> _Blob:
    u = _hash_unit(f"blob:{word}", 10)
    return _Blob(
        centre=np.array([u[0] * aspect, 0.15 + 0.7 * u[1]]),
        radius=0.07 + 0.12 * u[2],
        colour_index=2 + int(u[3] * (_PALETTE_SIZE - 2)),
        orbit=np.array([0.03 + 0.12 * u[4], 0.02 + 0.08 * u[5]]),
        orbit_speed=(0.4 + 1.2 * u[6]) * (1 if u[7] < 0.5 else -1),
        phase=2 * np.pi * u[8],
        strength=0.8 + 0.2 * u[9],
    )


def _prompt_content(prompt: str, aspect: float) -> _Content:
    words = _content_words(prompt)
    # Pan is the mean of per-word directions, so prompts sharing words move alike.
    directions = np.array([_hash_unit(f"pan:{w}", 2) * 2 - 1 for w in words])
    pan = directions.mean(axis=0)
    norm = np.linalg.norm(pan)
    speed = 0.03 + 0.09 * _hash_unit(f"speed:{' '.join(sorted(words))}", 1)[0]
    pan = pan / norm * speed if norm > 1e-6 else np.array([speed, 0.0])
    scene = _hash_unit(f"scene:{' '.join(words)}", 3)
    return _Content(
        blobs=tuple(_word_blob(w, aspect) for w in words),
        pan=pan,
        horizon=0.35 + 0.3 * scene[0],
        pulse_amp=0.05 + 0.15 * scene[1],
        pulse_speed=0.5 + 1.5 * scene[2],
    )


# --------------------------------------------------------------------------------------------
# Scene: per-request constants and the per-frame latent
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scene:
    dna: _Dna
    content: _Content
    x: np.ndarray  # (h, w) latent cell centres, frame-height units
    y: np.ndarray
    aspect: float
    background: np.ndarray  # (4, h, w)
    wave_base: np.ndarray  # (K, h, w) spatial phase of each texture wave
    init_offset: np.ndarray | None  # init latent minus the scene's own first latent
    blend_seconds: float


def _build_scene(request: RenderRequest, seed: int) -> _Scene:
    _, h, w = latent_shape(request.width, request.height)
    aspect = request.width / request.height
    ys, xs = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w * aspect, indexing="ij")
    x, y = xs.astype(np.float32), ys.astype(np.float32)
    dna = _seed_dna(seed)
    content = _prompt_content(request.prompt, aspect)
    # Soft vertical gradient between the two background colours, split at the horizon.
    mix = 1 / (1 + np.exp(-(y - content.horizon) * 6.0))
    background = dna.palette[0][:, None, None] * (1 - mix) + dna.palette[1][:, None, None] * mix
    wave_base = np.tensordot(dna.wave_vectors, np.stack([x, y]), axes=1)
    wave_base += dna.wave_phases[:, None, None]
    scene = _Scene(
        dna=dna,
        content=content,
        x=x,
        y=y,
        aspect=aspect,
        background=background.astype(np.float32),
        wave_base=wave_base.astype(np.float32),
        init_offset=None,
        blend_seconds=min(max(0.5 * request.duration, 0.5), 2.0),
    )
    init = _init_latent(request)
    if init is None:
        return scene
    return replace(scene, init_offset=init - _target_latent(scene, 0.0))


def _init_latent(request: RenderRequest) -> np.ndarray | None:
    if request.init_latent is not None:
        return request.init_latent.astype(np.float32)
    if request.init_image is not None:
        return encode_image(request.init_image, request.width, request.height)
    return None


def _target_latent(scene: _Scene, t: float) -> np.ndarray:
    """The scene's own latent at time ``t`` seconds: background, moving blobs, drifting texture."""
    dna, content = scene.dna, scene.content
    pan = content.pan * t
    shifts = dna.wave_speeds * t - dna.wave_vectors @ pan.astype(np.float32)
    waves = np.cos(scene.wave_base + shifts[:, None, None].astype(np.float32))
    z = scene.background + np.tensordot(dna.wave_amps, waves, axes=1)
    for blob in content.blobs:
        z += _blob_mask(scene, blob, t, pan) * (dna.palette[blob.colour_index][:, None, None] - z)
    pulse = content.pulse_amp * np.sin(content.pulse_speed * t)
    z[0] += np.float32(pulse)
    return z


def _blob_mask(scene: _Scene, blob: _Blob, t: float, pan: np.ndarray) -> np.ndarray:
    angle = blob.orbit_speed * t + blob.phase
    centre = blob.centre + blob.orbit * np.array([np.cos(angle), np.sin(angle)]) - pan * 0.6
    # Wrap horizontally so a panning camera keeps finding the objects instead of losing them.
    span = scene.aspect + 4 * blob.radius
    cx = (centre[0] + 2 * blob.radius) % span - 2 * blob.radius
    d2 = (scene.x - np.float32(cx)) ** 2 + (scene.y - np.float32(centre[1])) ** 2
    return np.float32(blob.strength) * np.exp(d2 * np.float32(-0.5 / blob.radius**2))


def _smoothstep(value: float) -> float:
    v = min(max(value, 0.0), 1.0)
    return v * v * (3 - 2 * v)


def _latent_at(scene: _Scene, t: float) -> np.ndarray:
    z = _target_latent(scene, t)
    if scene.init_offset is not None:
        # Start exactly on the init latent, then ease toward this scene's own content.
        z += scene.init_offset * np.float32(1 - _smoothstep(t / scene.blend_seconds))
    return z


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def render_frames(
    request: RenderRequest,
) -> tuple[Iterator[np.ndarray], Callable[[], np.ndarray]]:
    """Frames (HxWx3 uint8, lazily) and a function returning the final latent once consumed.

    With ``seed=None`` a fresh seed is drawn and not reported; call ``resolve_seed`` first (as
    ``render`` does) when the seed must be known.
    """
    validate(request)
    request = resolve_seed(request)
    assert request.seed is not None
    scene = _build_scene(request, request.seed)
    count = frame_count(request)
    final: list[np.ndarray] = []

    def frames() -> Iterator[np.ndarray]:
        for index in range(count):
            latent = _latent_at(scene, index / request.fps)
            if index == count - 1:
                final.append(latent)
            yield decode_latent(latent, request.width, request.height)

    def final_latent() -> np.ndarray:
        if not final:
            raise RuntimeError("final latent is available only after all frames are consumed")
        return final[0].copy()

    return frames(), final_latent


def render(
    request: RenderRequest,
    out_dir: Path,
    stem: str,
    *,
    metadata: dict[str, str] | None = None,
    threads: int = 0,
) -> RenderResult:
    """Render to ``{stem}.mp4``, ``{stem}.latent.npy`` (final latent), ``{stem}.last.png``.

    The PNG is the exact last frame fed to the encoder (lossless), which is the best input for a
    hosted model continuing the scene.
    """
    validate(request)
    request = resolve_seed(request)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames, final_latent = render_frames(request)
    last: list[np.ndarray] = []

    def remember_last() -> Iterator[np.ndarray]:
        for frame in frames:
            last[:] = [frame]
            yield frame

    video_path = out_dir / f"{stem}.mp4"
    video = media.encode(
        remember_last(), video_path, fps=request.fps, metadata=metadata, threads=threads
    )
    latent_path = out_dir / f"{stem}.latent.npy"
    _save_npy(final_latent(), latent_path)
    last_frame_path = out_dir / f"{stem}.last.png"
    media.save_png(last[0], last_frame_path)
    assert request.seed is not None
    return RenderResult(video, latent_path, last_frame_path, request.seed, video.frame_count)


def _save_npy(array: np.ndarray, path: Path) -> None:
    part = path.with_name(f".{path.name}.part")
    with part.open("wb") as handle:
        np.save(handle, array)
    os.replace(part, path)


def load_latent(path: Path) -> np.ndarray:
    """Load a ``.latent.npy`` written by ``render`` (no pickles: latents come from storage)."""
    return np.load(Path(path), allow_pickle=False)
