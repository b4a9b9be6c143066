"""Temporal stability of one scene: flicker and frame-to-frame noise that motion does not explain.

In the spirit of VBench's *temporal flickering* (mean absolute change between adjacent frames),
but measured **after motion compensation** (``cuts.PairMeasure``: each pair is aligned first), so
a pan or zoom is not instability, and split in two:

* **flicker** - brightness jitter: the relative change of mean luma over the aligned overlap,
  minus its local median (a steady fade or exposure ramp is not flicker; a +/-10 % alternation
  is 10 % flicker);
* **noise** - what motion does not explain: 1 - the motion-compensated similarity of consecutive
  frames (``PairMeasure.similarity``), averaged over the scene: i.i.d. noise, boiling textures,
  morphing artefacts. Relative to the picture's own structure, so plain sky with codec noise is
  not "noisy" and noise cannot hide behind a lucky alignment (a per-pixel residual could: H.264
  blurs noise, and the alignment search then finds shifts that halve the residual).

Both have a dead zone below which a scene is simply stable: without it, a low-bitrate re-encode
(which smooths exactly these small changes) would *raise* stability, rewarding codec smoothing.
Every internal cut multiplies the scene's stability by ``CUT_PENALTY``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.coherence.cuts import PairMeasure

# Relative brightness jitter: none below 1 % (H.264 moves mean luma by 0.1-0.5 % a frame, ordinary
# footage by < 1 %), zero stability at 25 %. A +/-10 % random flicker measures 8-12 % (-> 0.55-0.7).
FLICKER_FREE = 0.01
FLICKER_ZERO = 0.25
# Luma offset in the relative change, so near-black frames (mean 2-10) do not read tiny absolute
# changes as huge relative ones.
DARK_OFFSET = 16.0
# Unexplained change: none below 0.08 (local-model clips 0.00-0.01, pans and zooms over photos
# 0.00-0.04, the same re-encoded at CRF 35 up to 0.07), zero stability at 0.3 (H.264-encoded noise
# measures 0.3-0.45 even at its best spurious alignment).
NOISE_FREE = 0.08
NOISE_ZERO = 0.3
# One cut inside a scene is a visible defect whatever the clip's length.
CUT_PENALTY = 0.75
MEDIAN_WINDOW = 2  # pairs either side for the local median of the brightness change


@dataclass(frozen=True)
class Stability:
    stability: float  # in [0, 1]
    flicker: float  # mean relative brightness jitter (0.1 = 10 %)
    noise: float  # 1 - mean motion-compensated similarity of consecutive frames


def _ramp(value: float, free: float, zero: float) -> float:
    """1 up to ``free``, falling linearly to 0 at ``zero``."""
    return float(min(1.0, max(0.0, 1.0 - (value - free) / (zero - free))))


def brightness_jitter(pairs: Sequence[PairMeasure]) -> float:
    """Mean |relative brightness change - its local median| over the pairs."""
    if not pairs:
        return 0.0
    change = np.array([p.brightness / (p.mean_luma + DARK_OFFSET) for p in pairs])
    jitter = [
        abs(change[i] - np.median(change[max(0, i - MEDIAN_WINDOW) : i + MEDIAN_WINDOW + 1]))
        for i in range(len(change))
    ]
    return float(np.mean(jitter))


def scene_stability(pairs: Sequence[PairMeasure], cut_pairs: Sequence[int] = ()) -> Stability:
    """Stability of a scene from its consecutive pairs; ``cut_pairs`` (indices into ``pairs``)
    are internal cuts: not flicker or noise, but each costs CUT_PENALTY."""
    cuts = set(cut_pairs)
    smooth = [p for i, p in enumerate(pairs) if i not in cuts]
    flicker = brightness_jitter(smooth)
    noise = float(np.mean([1.0 - p.similarity for p in smooth])) if smooth else 0.0
    value = _ramp(flicker, FLICKER_FREE, FLICKER_ZERO) * _ramp(noise, NOISE_FREE, NOISE_ZERO)
    return Stability(float(value * CUT_PENALTY ** len(cuts)), flicker, noise)
