"""Which models Coherence can use and what inputs each one takes.

The pipeline maps a scene (prompt, duration, seed, conditioning frame) onto a model's inputs
through this registry, so a model without a seed input is never sent one and a model without an
image input is never asked to continue a scene. Operators add models with
``COHERENCE_EXTRA_MODELS`` in settings.

Input names of the hosted models were checked against the models' published Replicate input schemas
(the "API" tab of a model version). Where a value could not be confirmed the entry says so in a
comment, and ``docs/providers.md`` repeats it. Prices are USD per second of output video at the
default resolution; ``price_note`` says where a price comes from and whether it was confirmed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from coherence_project.conf import config

LOCAL_PROVIDER = "local"
REPLICATE_PROVIDER = "replicate"

LOCAL_MODEL = "coherence/local-dna"
LOCAL_MODEL_VERSION = "dna-1"  # bump when the local model's output for a recipe changes

SEEDANCE_LITE = "bytedance/seedance-1-lite"
SEEDANCE_PRO = "bytedance/seedance-1-pro"
WAN_I2V_FAST = "wan-video/wan-2.2-i2v-fast"
MINIMAX_VIDEO_01 = "minimax/video-01"
KLING_V21 = "kwaivgi/kling-v2.1"

_HEIGHT_LABEL = re.compile(r"^(\d+)p$")


class UnknownModelError(LookupError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    name: str  # "owner/name" as the provider knows it
    provider: str
    prompt_input: str = "prompt"
    seed_input: str | None = None
    first_frame_input: str | None = None
    last_frame_input: str | None = None
    duration_input: str | None = None
    allowed_durations: tuple[float, ...] | None = None  # None: any duration within plan bounds
    # Models that take a frame count instead of a duration (wan): duration * fps -> frames.
    frames_input: str | None = None
    frames_range: tuple[int, int] | None = None  # inclusive (min, max) the schema allows
    frames_step: int = 1  # wan wants 4n+1 frames; step 4 with an offset of 1 from the minimum
    fps_input: str | None = None
    fps_value: int | None = None  # the frame rate we ask for (and the one frames are counted at)
    # A model without any duration input renders a fixed length (cost, loopback server).
    fixed_duration: float | None = None
    resolution_input: str | None = None
    allowed_resolutions: tuple[str, ...] | None = None
    default_resolution: str | None = None
    # Output height per resolution label when it is not "<height>p" (kling's "standard"/"pro").
    resolution_heights: dict[str, int] = field(default_factory=dict)
    fixed_inputs: dict[str, Any] = field(default_factory=dict)
    # Every input name the model's schema accepts (the loopback server answers 422 to others).
    # None: only the inputs named above plus fixed_inputs.
    accepted_inputs: frozenset[str] | None = None
    price_per_second: float | None = None  # USD per second of output video, where known
    price_note: str = ""  # where the price comes from, and whether it was confirmed
    accepts_latent: bool = False  # only the local model can start from a true final latent

    def __post_init__(self) -> None:
        # COHERENCE_EXTRA_MODELS arrives as JSON: lists where the dataclass wants tuples and sets.
        for name in ("allowed_durations", "allowed_resolutions", "frames_range"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if self.accepted_inputs is not None and not isinstance(self.accepted_inputs, frozenset):
            object.__setattr__(self, "accepted_inputs", frozenset(self.accepted_inputs))

    @property
    def accepts_seed(self) -> bool:
        return self.seed_input is not None

    @property
    def can_continue(self) -> bool:
        """Whether a continuous scene can start from its predecessor's final state."""
        return self.accepts_latent or self.first_frame_input is not None

    @property
    def input_names(self) -> frozenset[str]:
        """Every input name this model accepts."""
        named = {
            self.prompt_input,
            self.seed_input,
            self.first_frame_input,
            self.last_frame_input,
            self.duration_input,
            self.frames_input,
            self.fps_input,
            self.resolution_input,
            *self.fixed_inputs,
        }
        named.discard(None)
        return frozenset(named) | (self.accepted_inputs or frozenset())  # type: ignore[arg-type]

    def nearest_duration(self, seconds: float) -> float:
        """The allowed duration closest to ``seconds`` (ties go to the longer one)."""
        if not self.allowed_durations:
            return seconds
        return min(self.allowed_durations, key=lambda allowed: (abs(allowed - seconds), -allowed))

    def frames_for(self, seconds: float, fps: int) -> int:
        """The frame count for ``seconds`` at ``fps``, snapped to the schema's range and step."""
        frames = round(seconds * fps) + 1  # n seconds of motion span n*fps intervals
        if self.frames_range is None:
            return max(frames, 1)
        low, high = self.frames_range
        frames = min(max(frames, low), high)
        step = max(self.frames_step, 1)
        frames = low + round((frames - low) / step) * step
        while frames > high:
            frames -= step
        return frames

    def rendered_seconds(self, seconds: float, fps: int | None = None) -> float:
        """How long the model's output will be for a scene of ``seconds`` (what gets billed).

        Hosted models snap durations (kling 5/10 s, seedance whole seconds), count frames (wan) or
        render a fixed length (minimax), so the clip — and the bill — can differ from the plan.
        """
        if self.duration_input:
            return float(self.nearest_duration(seconds))
        if self.frames_input:
            rate = self.fps_value or fps or 24
            return (self.frames_for(seconds, rate) - 1) / rate
        if self.fixed_duration is not None:
            return self.fixed_duration
        return seconds

    def resolution_height(self, label: str) -> int | None:
        if label in self.resolution_heights:
            return self.resolution_heights[label]
        match = _HEIGHT_LABEL.match(label)
        return int(match.group(1)) if match else None

    def resolution_for(self, width: int, height: int) -> str | None:
        """The allowed resolution label nearest to the requested frame height."""
        if not self.resolution_input:
            return None
        if not self.allowed_resolutions:
            return self.default_resolution
        short_side = min(width, height)
        sized = [
            (label, h)
            for label in self.allowed_resolutions
            if (h := self.resolution_height(label)) is not None
        ]
        if not sized:
            return self.default_resolution or self.allowed_resolutions[0]
        # Ties go to the larger size: never hand back less than was asked for when equally close.
        return min(sized, key=lambda item: (abs(item[1] - short_side), -item[1]))[0]


SEEDANCE_INPUTS = frozenset(
    {
        "prompt",
        "image",
        "last_frame_image",
        "duration",
        "resolution",
        "aspect_ratio",
        "fps",
        "camera_fixed",
        "seed",
    }
)

BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name=LOCAL_MODEL,
        provider=LOCAL_PROVIDER,
        seed_input="seed",
        first_frame_input="image",
        duration_input="duration",
        accepts_latent=True,
        price_per_second=0.0,
        price_note="runs locally",
    ),
    # Schema confirmed on the seedance-1-lite version API page: seed, image, last_frame_image
    # ("only works if an image start frame is given too"), duration integer 2..12 (older versions
    # took 5 or 10 only), resolution 480p/720p/1080p (1080p implied by the reference_images note),
    # aspect_ratio (ignored when an image is given), fps 24, camera_fixed, reference_images.
    ModelSpec(
        name=SEEDANCE_LITE,
        provider=REPLICATE_PROVIDER,
        seed_input="seed",
        first_frame_input="image",
        last_frame_input="last_frame_image",
        duration_input="duration",
        allowed_durations=tuple(float(s) for s in range(2, 13)),
        resolution_input="resolution",
        allowed_resolutions=("480p", "720p", "1080p"),
        default_resolution="720p",
        accepted_inputs=SEEDANCE_INPUTS | {"reference_images"},
        price_per_second=0.036,
        price_note="UNCONFIRMED: recalled as $0.018/s 480p, $0.036/s 720p, $0.072/s 1080p",
    ),
    # Same input names as lite (confirmed via a public listing of the Replicate schema: duration
    # 2..12, resolution 480p/720p/1080p, last_frame_image needs image). No reference_images.
    ModelSpec(
        name=SEEDANCE_PRO,
        provider=REPLICATE_PROVIDER,
        seed_input="seed",
        first_frame_input="image",
        last_frame_input="last_frame_image",
        duration_input="duration",
        allowed_durations=tuple(float(s) for s in range(2, 13)),
        resolution_input="resolution",
        allowed_resolutions=("480p", "720p", "1080p"),
        default_resolution="1080p",
        accepted_inputs=SEEDANCE_INPUTS,
        price_per_second=0.15,
        price_note="UNCONFIRMED: recalled as $0.03/s 480p and $0.15/s 1080p",
    ),
    # Input names from the reference (seed, image, last_image, num_frames, resolution,
    # frames_per_second). Frame range and the extra inputs are taken from the sibling
    # wan-2.2-i2v-a14b schema (num_frames 81.., 4n+1, 16 fps, 480p/720p) — the -fast page itself
    # could not be retrieved: UNCONFIRMED range 81..121 and extras (go_fast, sample_shift, ...).
    ModelSpec(
        name=WAN_I2V_FAST,
        provider=REPLICATE_PROVIDER,
        seed_input="seed",
        first_frame_input="image",
        last_frame_input="last_image",
        frames_input="num_frames",
        frames_range=(81, 121),
        frames_step=4,
        fps_input="frames_per_second",
        fps_value=16,
        resolution_input="resolution",
        allowed_resolutions=("480p", "720p"),
        default_resolution="480p",
        accepted_inputs=frozenset(
            {
                "prompt",
                "image",
                "last_image",
                "num_frames",
                "resolution",
                "frames_per_second",
                "go_fast",
                "sample_shift",
                "seed",
                "disable_safety_checker",
            }
        ),
        price_per_second=None,
        price_note="UNKNOWN: priced per output video on Replicate, figure not confirmed",
    ),
    # Schema confirmed on the video-01 version API page: prompt, first_frame_image,
    # subject_reference, prompt_optimizer. No seed, no duration (~6 s clips at 720p), no last frame.
    ModelSpec(
        name=MINIMAX_VIDEO_01,
        provider=REPLICATE_PROVIDER,
        first_frame_input="first_frame_image",
        fixed_duration=6.0,
        accepted_inputs=frozenset(
            {"prompt", "first_frame_image", "subject_reference", "prompt_optimizer"}
        ),
        price_per_second=0.5 / 6.0,
        price_note="UNCONFIRMED: recalled as $0.50 per ~6 s video",
    ),
    # Schema confirmed on the kling-v2.1 version API page: mode standard (720p) / pro (1080p), both
    # 24 fps; duration 5 or 10; start_image required; end_image needs pro mode; negative_prompt.
    # No seed input.
    ModelSpec(
        name=KLING_V21,
        provider=REPLICATE_PROVIDER,
        first_frame_input="start_image",
        last_frame_input="end_image",
        duration_input="duration",
        allowed_durations=(5.0, 10.0),
        resolution_input="mode",
        allowed_resolutions=("standard", "pro"),
        default_resolution="standard",
        resolution_heights={"standard": 720, "pro": 1080},
        accepted_inputs=frozenset(
            {"prompt", "start_image", "end_image", "duration", "mode", "negative_prompt"}
        ),
        price_per_second=0.05,
        price_note="UNCONFIRMED: recalled as $0.05/s standard, $0.09/s pro",
    ),
)


def all_models() -> dict[str, ModelSpec]:
    models = {spec.name: spec for spec in BUILTIN_MODELS}
    for name, options in config.EXTRA_MODELS.items():
        models[name] = ModelSpec(name=name, **options)
    return models


def get_model(name: str) -> ModelSpec:
    try:
        return all_models()[name]
    except KeyError:
        known = ", ".join(sorted(all_models()))
        raise UnknownModelError(f"Unknown model {name!r}; known models: {known}") from None
