"""Style: colour and texture statistics of a scene, and how alike two scenes' statistics are.

Per scene the sampled frames are pooled (content moving inside a scene is not drift) into colour
moments, CIELAB histograms and a gradient-magnitude histogram; ``style_similarity`` is a weighted
set of ``StyleComponent``s over them (docs/coherence-score.md gives the calibration).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.filters import sobel

# --- histogram layouts -------------------------------------------------------------------
L_BINS = 32  # L* in [0, 100]
AB_BINS = 16  # joint a*/b* histogram, per axis
AB_RANGE = (-80.0, 80.0)  # covers nearly all sRGB chroma; outliers fall into the edge bins
GRAD_BINS = 24
HIST_SIGMA = 1.0  # bins of Gaussian smoothing of the colour histograms (see _smooth)
EDGE_FLOOR = 0.01  # mean Sobel magnitude; photos measure 0.04-0.11, local-model scenes 0.03-0.04
GRAD_MAX = 0.3  # Sobel magnitude of L*/100; larger values (hard edges, noise) share the last bin

# --- distance -> similarity scales -------------------------------------------------------
# Colour moments: sim = exp(-d / TAU_MOMENTS), d = CIE76 distance of the LAB means plus half the
# distance of the LAB stds. One JND is ~2.3. On the local model "same seed, other prompt" gives a
# median d of 8 (sim 0.5), "other seed" a median of 26 (sim 0.11); TAU = 12 puts the knee between.
TAU_MOMENTS = 12.0


@dataclass
class SceneFeatures:
    """Everything the style term needs about one scene; ``extra`` is for future terms
    (e.g. a CLIP/DINO embedding) so adding one does not change this type."""

    lab_mean: np.ndarray  # (3,)
    lab_std: np.ndarray  # (3,)
    hist_l: np.ndarray  # (L_BINS,), sums to 1
    hist_ab: np.ndarray  # (AB_BINS*AB_BINS,), sums to 1
    hist_grad: np.ndarray  # (GRAD_BINS,), sums to 1
    edge_energy: float  # mean Sobel magnitude of L*/100
    extra: dict[str, Any] = field(default_factory=dict)


def _bin(values: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """Bin index of each value in ``bins`` equal bins over [lo, hi]; outliers go to the edges.
    (np.histogram's general path is ~5x slower, and this runs on every pixel of every sample.)"""
    index = ((values - lo) * (bins / (hi - lo))).astype(np.int64)
    return np.clip(index, 0, bins - 1)


def _normalised_hist(values: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    counts = np.bincount(_bin(values, bins, lo, hi), minlength=bins).astype(np.float64)
    total = counts.sum()
    return counts / total if total else np.full(bins, 1.0 / bins)


def _joint_hist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Joint a*/b* histogram (AB_BINS x AB_BINS over AB_RANGE), smoothed, flattened, sum 1."""
    index = _bin(a, AB_BINS, *AB_RANGE) * AB_BINS + _bin(b, AB_BINS, *AB_RANGE)
    counts = np.bincount(index, minlength=AB_BINS * AB_BINS).astype(np.float64)
    return _smooth(counts.reshape(AB_BINS, AB_BINS)).ravel()


def _smooth(hist: np.ndarray) -> np.ndarray:
    """Gaussian-blur a histogram by HIST_SIGMA bins and renormalise.

    A narrow palette (a retina photo: a few chroma bins) otherwise changes bins under H.264's
    chroma rounding: a CRF-38 re-encode moved its histogram similarity by 0.10, 0.01 smoothed.
    """
    smoothed = ndimage.gaussian_filter(hist, HIST_SIGMA, mode="constant")
    return smoothed / smoothed.sum()


def _half(channel: np.ndarray) -> np.ndarray:
    """2x2 block mean: texture at half the analysis size, where a low-bitrate re-encode's lost
    detail no longer shows (at full size a CRF-38 re-encode moved texture similarity by 0.10)."""
    h, w = (channel.shape[0] // 2) * 2, (channel.shape[1] // 2) * 2
    c = channel[:h, :w]
    return 0.25 * (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2])


def features_of_rgb(samples: Sequence[np.ndarray]) -> SceneFeatures:
    """``scene_features`` of uint8 RGB samples (converted to CIELAB here)."""
    return scene_features([rgb8_to_lab(f) for f in samples])


# sRGB (D65, 2° observer) -> CIELAB exactly as skimage.color.rgb2lab computes it, for uint8
# input: the gamma curve becomes a 256-entry table and the rest runs in float32. Same values to
# 1e-4 L*a*b* units, 4x faster: skimage's float64 path was a fifth of all scoring time.
_LINEAR = np.where(
    (v := np.arange(256) / 255.0) > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92
).astype(np.float32)
_RGB_TO_XYZ_WHITE = (
    np.array(
        [
            [0.412453, 0.357580, 0.180423],
            [0.212671, 0.715160, 0.072169],
            [0.019334, 0.119193, 0.950227],
        ]
    )
    / np.array([[0.95047], [1.0], [1.08883]])
).astype(np.float32)


def rgb8_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB of an HxWx3 uint8 sRGB image (float64 array, as skimage.color.rgb2lab returns)."""
    t = _LINEAR[np.asarray(rgb, dtype=np.uint8)] @ _RGB_TO_XYZ_WHITE.T
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + np.float32(16.0 / 116.0))
    lab = np.empty(rgb.shape, dtype=np.float64)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def scene_features(lab_frames: Sequence[np.ndarray]) -> SceneFeatures:
    """Colour and texture statistics pooled over all sampled frames of one scene.

    Pooling over frames (rather than averaging per-frame distances) makes the statistics describe
    the scene's palette as a whole, so content moving around inside a scene does not count as drift.
    """
    pixels = np.concatenate([f.reshape(-1, 3) for f in lab_frames])
    hist_ab = _joint_hist(pixels[:, 1], pixels[:, 2])
    grads = np.concatenate([sobel(_half(f[..., 0]) / 100.0).ravel() for f in lab_frames])
    return SceneFeatures(
        lab_mean=pixels.mean(axis=0),
        lab_std=pixels.std(axis=0),
        hist_l=_smooth(_normalised_hist(pixels[:, 0], L_BINS, 0.0, 100.0)),
        hist_ab=hist_ab,
        hist_grad=_smooth(_normalised_hist(grads, GRAD_BINS, 0.0, GRAD_MAX)),
        edge_energy=float(grads.mean()),
    )


# =================================================================================================
# Style similarity between two scenes: a weighted set of components
# =================================================================================================


def bhattacharyya_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Bounded Bhattacharyya (Hellinger) distance sqrt(1 - BC) in [0, 1] of two histograms.

    The bounded form is used instead of -ln(BC) so that disjoint histograms give 1, not infinity.
    """
    bc = float(np.sum(np.sqrt(p * q)))
    return math.sqrt(max(0.0, 1.0 - min(bc, 1.0)))


def moments_similarity(a: SceneFeatures, b: SceneFeatures) -> float:
    # Std counts half: the same palette lit a little flatter or harsher is a smaller change than a
    # shifted palette.
    d = float(np.linalg.norm(a.lab_mean - b.lab_mean) + 0.5 * np.linalg.norm(a.lab_std - b.lab_std))
    return math.exp(-d / TAU_MOMENTS)


def histogram_similarity(a: SceneFeatures, b: SceneFeatures) -> float:
    # Chroma (joint a*/b*) carries the palette, so it weighs twice lightness.
    d = (
        2.0 * bhattacharyya_distance(a.hist_ab, b.hist_ab)
        + bhattacharyya_distance(a.hist_l, b.hist_l)
    ) / 3.0
    return 1.0 - d


def texture_similarity(a: SceneFeatures, b: SceneFeatures) -> float:
    hist = 1.0 - bhattacharyya_distance(a.hist_grad, b.hist_grad)
    # EDGE_FLOOR: two nearly textureless scenes have the same grain, whatever the ratio of their
    # tiny edge energies (a smooth retina photo, 0.008, loses 25-45 % of it to a CRF-35 re-encode).
    denom = a.edge_energy + b.edge_energy + EDGE_FLOOR
    energy = 1.0 - abs(a.edge_energy - b.edge_energy) / denom
    return 0.5 * hist + 0.5 * energy


@dataclass(frozen=True)
class StyleComponent:
    """One term of the pairwise style similarity. Must be symmetric and return [0, 1].

    To add a learned embedding later: put the embedding into ``SceneFeatures.extra`` and append a
    component whose similarity reads it (e.g. cosine similarity mapped to [0, 1]); the weights
    renormalise, so no other constant has to change.
    """

    name: str
    weight: float
    similarity: Callable[[SceneFeatures, SceneFeatures], float]


STYLE_COMPONENTS: tuple[StyleComponent, ...] = (
    # Colour moments: the most direct read of "palette drift" and what color_match corrects, but
    # the mean moves with content (a big red object shifts it), so it weighs less than histograms.
    StyleComponent("color_moments", 0.30, moments_similarity),
    # Histograms: the whole palette, robust to where and how large objects are; on the local model
    # they separate same-seed from other-seed scene pairs best (docs/coherence-score.md).
    StyleComponent("color_histogram", 0.50, histogram_similarity),
    # Texture: same colours but a different "grain" (e.g. smooth vs. noisy) is still a style break.
    StyleComponent("texture", 0.20, texture_similarity),
)


def style_similarity(
    a: SceneFeatures, b: SceneFeatures, components: Sequence[StyleComponent] = STYLE_COMPONENTS
) -> float:
    total = sum(c.weight for c in components)
    value = sum(c.weight * c.similarity(a, b) for c in components) / total
    return float(min(1.0, max(0.0, value)))
