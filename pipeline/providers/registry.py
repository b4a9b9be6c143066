"""Which models Coherence can use, what inputs each one takes, and what it costs.

The pipeline maps a scene (prompt, duration, seed, conditioning frame) onto a model's inputs
through this registry. Where a model's live input schema has been fetched (``sync_models``), that
schema has the last word on which inputs are sent (``pipeline.providers.schema``); the registry
says how a scene maps onto them and what each model costs. Operators add models with
``COHERENCE_EXTRA_MODELS``, handed in as a ``ModelRegistry``'s extras; a community model may be
pinned there as ``owner/name:<64-hex id>``.
Official models (every built-in hosted one) are never pinned: they run through
``POST /v1/models/{owner}/{name}/predictions`` and report ``"version": "hidden"``.

Facts were checked on each model's Replicate page where the search index held it (the URL is in
the comment above the entry); anything that could not be confirmed says so in ``price_note`` or a
comment, and ``docs/providers.md`` repeats it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipeline.providers import diffusion_families
from pipeline.providers.schema import declares_input, requires_input

LOCAL_PROVIDER = "local"
REPLICATE_PROVIDER = "replicate"

LOCAL_MODEL = "coherence/local-dna"
LOCAL_MODEL_VERSION = "dna-1"  # bump when the local model's output for a recipe changes

SEEDANCE_LITE = "bytedance/seedance-1-lite"
SEEDANCE_PRO = "bytedance/seedance-1-pro"
WAN_I2V_FAST = "wan-video/wan-2.2-i2v-fast"
MINIMAX_VIDEO_01 = "minimax/video-01"
KLING_V21 = "kwaivgi/kling-v2.1"
SEEDANCE_PRO_FAST = "bytedance/seedance-1-pro-fast"
VEO_31_FAST = "google/veo-3.1-fast"
WAN_27_I2V = "wan-video/wan-2.7-i2v"

BILL_PER_SECOND = "second"
BILL_PER_CLIP = "clip"
ANY_RESOLUTION = "*"

_HEIGHT_LABEL = re.compile(r"^(\d+)p$")
VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
CENT = Decimal("0.0001")


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
    # The input that takes a previous clip to continue (wan-2.7-i2v's first_clip). Never sent
    # with the first-frame input, and only when a stored live schema declares it.
    clip_input: str | None = None
    clip_seconds: tuple[float, float] | None = None  # inclusive source-clip length it takes
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
    # Every input name the model's schema accepts, as far as the registry knows (a stored live
    # schema replaces this). None: only the inputs named above plus fixed_inputs.
    accepted_inputs: frozenset[str] | None = None
    # Inputs the model refuses to run without (a stored live schema replaces this).
    required_inputs: frozenset[str] = frozenset({"prompt"})
    # Pricing: USD per second of output ("second") or per clip ("clip"), by resolution label
    # ("*" when the model has one price). price_per_second is the flat shorthand for extras.
    billing: str = BILL_PER_SECOND
    prices: dict[str, float] = field(default_factory=dict)
    price_per_second: float | None = None
    price_note: str = ""  # where the price comes from, and whether it was confirmed
    output_fps: int | None = None  # the frame rate the model renders at, when fixed
    accepts_latent: bool = False  # starts from a stored final latent (local model, diffusers)
    # Community models only: the 64-hex version to run. Official models are never pinned.
    version: str | None = None

    def __post_init__(self) -> None:
        # COHERENCE_EXTRA_MODELS arrives as JSON: lists where the dataclass wants tuples and sets.
        for name in ("allowed_durations", "allowed_resolutions", "frames_range", "clip_seconds"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        for name in ("accepted_inputs", "required_inputs"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, frozenset):
                object.__setattr__(self, name, frozenset(value))
        if self.version is not None and not VERSION_ID.match(self.version):
            raise ValueError(
                f"model {self.name}: version must be a 64-hex version id, got {self.version!r} "
                "(official models are never pinned)"
            )
        if self.billing not in (BILL_PER_SECOND, BILL_PER_CLIP):
            raise ValueError(f"model {self.name}: billing must be 'second' or 'clip'")

    @property
    def accepts_seed(self) -> bool:
        return self.seed_input is not None

    @property
    def can_continue(self) -> bool:
        """Whether a continuous scene can start from its predecessor's final state."""
        return self.accepts_latent or self.first_frame_input is not None

    def continues_clip(self, input_schema: Mapping[str, Any] | None) -> bool:
        """Whether a continuous scene can hand this model the previous clip (method ``clip``).

        Only with a stored live Input component (``input_schema``) that declares the clip input
        and does not require the first-frame input (the clip replaces it; the two are never sent
        together). Without a stored schema the answer is False: Replicate drops an undeclared
        input without a word, so a guessed name would silently render from nothing.
        """
        if not self.clip_input or not declares_input(input_schema, self.clip_input):
            return False
        return not requires_input(input_schema, self.first_frame_input)

    def clip_fits(self, seconds: float) -> bool:
        """Whether a source clip of ``seconds`` is within the length the clip input takes."""
        if self.clip_seconds is None:
            return True
        low, high = self.clip_seconds
        return low <= seconds <= high

    @property
    def input_names(self) -> frozenset[str]:
        """Every input name this model accepts."""
        named = {
            self.prompt_input,
            self.seed_input,
            self.first_frame_input,
            self.last_frame_input,
            self.clip_input,
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

    def price_for(self, resolution: str | None) -> float | None:
        """The price at ``resolution`` (per second or per clip, see ``billing``), if known."""
        if self.prices:
            found = self.prices.get(resolution or ANY_RESOLUTION)
            return found if found is not None else self.prices.get(ANY_RESOLUTION)
        return self.price_per_second if self.billing == BILL_PER_SECOND else None

    def cost_of(self, seconds: float, resolution: str | None) -> Decimal | None:
        """What a clip of ``seconds`` of output at ``resolution`` is billed, or None if unknown."""
        price = self.price_for(resolution)
        if price is None:
            return None
        units = Decimal(1) if self.billing == BILL_PER_CLIP else Decimal(str(seconds))
        return (Decimal(str(price)) * units).quantize(CENT, rounding=ROUND_HALF_UP)

    def estimate_scene_cost(
        self, seconds: float, *, width: int, height: int, fps: int | None = None
    ) -> Decimal | None:
        """The cost of one planned scene: what the model will render (snapped), at the
        resolution it will be asked for."""
        resolution = self.resolution_for(width, height) or self.default_resolution
        return self.cost_of(self.rendered_seconds(seconds, fps), resolution)

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
    {"prompt", "image", "duration", "resolution", "aspect_ratio", "fps", "camera_fixed", "seed"}
)
SEEDANCE_RESOLUTIONS = ("480p", "720p", "1080p")
SEEDANCE_DURATIONS = tuple(float(s) for s in range(2, 13))  # integer 2..12 on the schema
SEEDANCE_PRO_DURATIONS = tuple(float(s) for s in range(3, 13))  # pro's schema: minimum 3


def _seedance(
    name: str,
    *,
    last_frame: bool,
    extra: frozenset[str],
    durations: tuple[float, ...] = SEEDANCE_DURATIONS,
    default_resolution: str = "720p",
    **pricing: Any,
) -> ModelSpec:
    return ModelSpec(
        name=name,
        provider=REPLICATE_PROVIDER,
        seed_input="seed",
        first_frame_input="image",
        last_frame_input="last_frame_image" if last_frame else None,
        duration_input="duration",
        allowed_durations=durations,
        resolution_input="resolution",
        allowed_resolutions=SEEDANCE_RESOLUTIONS,
        default_resolution=default_resolution,
        accepted_inputs=SEEDANCE_INPUTS | extra,
        output_fps=24,
        **pricing,
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
    # https://replicate.com/bytedance/seedance-1-lite (version f22bbc7d API page): seed, image,
    # last_frame_image ("only works if an image start frame is given too"), duration integer
    # 2..12, resolution 480p/720p/1080p (default 720p), aspect_ratio (ignored with an image),
    # fps 24, camera_fixed, reference_images. Only prompt is required.
    _seedance(
        SEEDANCE_LITE,
        last_frame=True,
        extra=frozenset({"last_frame_image", "reference_images"}),
        prices={"480p": 0.018, "720p": 0.036, "1080p": 0.072},
        price_note="per second of output: $0.018 480p, $0.036 720p, $0.072 1080p "
        "(https://replicate.com/bytedance/seedance-1-lite, per the reference sheet 2026-11)",
    ),
    # https://replicate.com/bytedance/seedance-1-pro: the lite schema without reference_images,
    # and a duration minimum of 3 (max 12) where lite's is 2 (reference sheet, 2026-12: one copy
    # of its schema). A 2 s scene is rendered, and billed, as 3 s.
    _seedance(
        SEEDANCE_PRO,
        last_frame=True,
        extra=frozenset({"last_frame_image"}),
        durations=SEEDANCE_PRO_DURATIONS,
        prices={"480p": 0.03, "720p": 0.06, "1080p": 0.15},
        price_note="per second of output: $0.03 480p, $0.06 720p, $0.15 1080p "
        "(https://replicate.com/bytedance/seedance-1-pro, per the reference sheet 2026-11)",
    ),
    # https://replicate.com/bytedance/seedance-1-pro-fast: seed and a start image (image), the
    # seedance duration/resolution inputs, no last frame; its resolution defaults to 1080p, not
    # 720p (reference sheet 2026-12). Schema names follow its public callers (prompt, duration,
    # resolution, aspect_ratio, image, seed); run `sync_models` to confirm.
    _seedance(
        SEEDANCE_PRO_FAST,
        last_frame=False,
        extra=frozenset(),
        default_resolution="1080p",
        prices={"480p": 0.015, "720p": 0.025, "1080p": 0.06},
        price_note="per second of output: $0.015 480p, $0.025 720p, $0.06 1080p "
        "(https://replicate.com/bytedance/seedance-1-pro-fast, confirmed per the reference "
        "sheet 2026-12)",
    ),
    # https://replicate.com/wan-video/wan-2.2-i2v-fast and the reference sheet: seed, image
    # (REQUIRED), last_image, num_frames 81..121, frames_per_second 5..30, resolution 480p/720p,
    # go_fast, interpolate_output, LoRA inputs (both transformers: the sheet, 2026-12, names
    # lora_weights_transformer_2 / lora_scale_transformer_2 too). Billed per clip, not per second.
    ModelSpec(
        name=WAN_I2V_FAST,
        provider=REPLICATE_PROVIDER,
        seed_input="seed",
        first_frame_input="image",
        last_frame_input="last_image",
        frames_input="num_frames",
        frames_range=(81, 121),
        frames_step=4,  # Wan renders 4n+1 frames
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
                "interpolate_output",
                "disable_safety_checker",
                "lora_weights_transformer",
                "lora_scale_transformer",
                "lora_weights_transformer_2",
                "lora_scale_transformer_2",
                "seed",
            }
        ),
        required_inputs=frozenset({"prompt", "image"}),
        billing=BILL_PER_CLIP,
        prices={"480p": 0.05, "720p": 0.11},
        price_note="per clip: $0.05 at 480p, $0.11 at 720p "
        "(https://replicate.com/wan-video/wan-2.2-i2v-fast, per the reference sheet 2026-11)",
        output_fps=16,
    ),
    # https://replicate.com/minimax/video-01 (version 608bbe11 API page): prompt,
    # first_frame_image, subject_reference, prompt_optimizer. No seed, no duration, no last frame:
    # every clip is 6 s at 25 fps (stitching resamples it to the house rate).
    ModelSpec(
        name=MINIMAX_VIDEO_01,
        provider=REPLICATE_PROVIDER,
        first_frame_input="first_frame_image",
        fixed_duration=6.0,
        accepted_inputs=frozenset(
            {"prompt", "first_frame_image", "subject_reference", "prompt_optimizer"}
        ),
        billing=BILL_PER_CLIP,
        prices={ANY_RESOLUTION: 0.5},
        price_note="UNCONFIRMED: $0.50 per 6 s clip (https://replicate.com/minimax/video-01)",
        output_fps=25,
    ),
    # https://replicate.com/kwaivgi/kling-v2.1 (version daad218f API page): mode standard (720p) /
    # pro (1080p), both 24 fps; duration 5 or 10; start_image REQUIRED ("You must use a start
    # image"); end_image only in pro mode; negative_prompt. No seed input. We never send
    # end_image, so standard mode is always valid.
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
        required_inputs=frozenset({"prompt", "start_image"}),
        prices={"standard": 0.05, "pro": 0.09},
        price_note="per second of output: $0.05 standard (720p), $0.09 pro (1080p) "
        "(https://replicate.com/kwaivgi/kling-v2.1, confirmed per the reference sheet 2026-12)",
        output_fps=24,
    ),
    # https://replicate.com/google/veo-3.1-fast ("last frame support"): seed, image, last_frame,
    # duration 4/6/8, resolution 720p/1080p (default 1080p), aspect_ratio, negative_prompt,
    # generate_audio (default true; sent false: the stitched video carries no audio, and audio
    # costs more). No reference_images: only google/veo-3.1 declares it (reference sheet 2026-12).
    ModelSpec(
        name=VEO_31_FAST,
        provider=REPLICATE_PROVIDER,
        seed_input="seed",
        first_frame_input="image",
        last_frame_input="last_frame",
        duration_input="duration",
        allowed_durations=(4.0, 6.0, 8.0),
        resolution_input="resolution",
        allowed_resolutions=("720p", "1080p"),
        default_resolution="1080p",
        fixed_inputs={"generate_audio": False},
        accepted_inputs=frozenset(
            {
                "prompt",
                "aspect_ratio",
                "duration",
                "image",
                "last_frame",
                "negative_prompt",
                "resolution",
                "generate_audio",
                "seed",
            }
        ),
        prices={ANY_RESOLUTION: 0.10},
        price_note="per second of output: $0.10 without audio ($0.15 with; we never ask for "
        "audio) (https://replicate.com/google/veo-3.1-fast, confirmed per the reference sheet "
        "2026-12)",
        output_fps=24,
    ),
    # https://replicate.com/wan-video/wan-2.7-i2v. Input names come from copies of its readme and
    # one public caller of its API (first_frame, last_frame, prompt, negative_prompt, resolution,
    # duration, enable_prompt_expansion, seed), NOT from its schema: the search index held no copy
    # of its API/schema page (searched 2026-12), so run `sync_models` before relying on any name.
    # first_clip continues a previous clip: a 2-10 s source clip (mp4/mov), not together with
    # first_frame. Alibaba's own API for the model gives the same role, limits and exclusion
    # (https://www.alibabacloud.com/help/en/model-studio/wan-image-to-video-guide; e.g.
    # https://novita.ai/docs/api-reference/model-apis-wan2.7-i2v: "first_clip_url ... Duration:
    # 2~10s ... Mutually exclusive with image_url"), which confirms the role, not Replicate's
    # input name: the clip is sent only when a stored live schema declares first_clip
    # (ModelSpec.continues_clip). Upstream needs first_frame or first_clip; a chain head has no
    # clip, so without a stored schema first_frame counts as required (refused before paying).
    # audio is a driving-audio file (never sent). Frame rate unconfirmed (30 fps per third
    # parties), so no output_fps; 1080p as the default resolution is the third parties' default.
    ModelSpec(
        name=WAN_27_I2V,
        provider=REPLICATE_PROVIDER,
        seed_input="seed",
        first_frame_input="first_frame",
        last_frame_input="last_frame",
        clip_input="first_clip",
        clip_seconds=(2.0, 10.0),
        duration_input="duration",
        allowed_durations=tuple(float(s) for s in range(2, 16)),  # integer 2..15
        resolution_input="resolution",
        allowed_resolutions=("720p", "1080p"),
        default_resolution="1080p",
        accepted_inputs=frozenset(
            {
                "prompt",
                "first_frame",
                "last_frame",
                "first_clip",
                "audio",
                "negative_prompt",
                "resolution",
                "duration",
                "enable_prompt_expansion",
                "seed",
            }
        ),
        required_inputs=frozenset({"prompt", "first_frame"}),
        prices={"720p": 0.10, "1080p": 0.15},
        price_note="UNCONFIRMED: $0.10/s at 720p, $0.15/s at 1080p are third parties' prices for "
        "Wan 2.7 i2v (https://fal.ai/models/fal-ai/wan/v2.7/image-to-video, "
        "https://runware.ai/docs/models/alibaba-wan2-7), not Replicate's "
        "(https://replicate.com/wan-video/wan-2.7-i2v); runware also bills a continued clip's "
        "input seconds, which this estimate does not count",
    ),
)


def _extra_model(key: str, options: Mapping[str, Any]) -> ModelSpec:
    """An operator's model; ``owner/name:<64-hex>`` pins a community model's version."""
    name, _, version = key.partition(":")
    options = dict(options)
    if version:
        options["version"] = version
    return ModelSpec(name=name, **options)


def diffusers_model(name: str) -> ModelSpec:
    """An open-weights model (a hub id or a pipeline directory) as the registry describes models:
    seeded, latent hand-over, an image input (required by image-led pipelines), no price."""
    try:
        model = diffusion_families.inspect_model(name)
    except diffusion_families.ModelNotUsable as exc:
        raise UnknownModelError(str(exc)) from None
    return ModelSpec(
        name=name,
        provider=diffusion_families.DIFFUSERS_PROVIDER,
        seed_input="seed",
        first_frame_input="image",
        duration_input="duration",
        required_inputs=frozenset({"prompt", "image"} if model.needs_image else {"prompt"}),
        accepts_latent=True,
        price_per_second=0.0,
        price_note="runs on your own hardware",
        output_fps=model.family.native_fps,
    )


class ModelRegistry:
    """The built-in models plus an operator's extras, by name.

    ``extra_models`` has ``COHERENCE_EXTRA_MODELS``' shape, ``{"owner/name[:<64-hex>]": {ModelSpec
    fields}}``; an extra replaces a built-in model of the same name. A bad entry raises
    ``ValueError`` here, when the registry is built.
    """

    def __init__(
        self,
        extra_models: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        builtin: Iterable[ModelSpec] = BUILTIN_MODELS,
    ) -> None:
        models = {spec.name: spec for spec in builtin}
        for key, options in (extra_models or {}).items():
            spec = _extra_model(key, options)
            models[spec.name] = spec
        self._models = models

    def all(self) -> dict[str, ModelSpec]:
        """Every registered model by name (open-weights models are looked up, not listed)."""
        return dict(self._models)

    def hosted(self) -> list[ModelSpec]:
        """Every model that runs on Replicate (what ``sync_models`` fetches schemas for)."""
        return [spec for spec in self._models.values() if spec.provider == REPLICATE_PROVIDER]

    def get(self, name: str) -> ModelSpec:
        """The model called ``name``: a registered one, else an open-weights one diffusers can
        run; ``UnknownModelError`` (naming the known models) otherwise."""
        try:
            return self._models[name]
        except KeyError:
            if diffusion_families.is_diffusers_model(name):
                return diffusers_model(name)
            known = ", ".join(sorted(self._models))
            raise UnknownModelError(f"Unknown model {name!r}; known models: {known}") from None
