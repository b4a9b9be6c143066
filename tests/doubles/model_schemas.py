"""The models the loopback Replicate serves, as Replicate publishes them (not as our code uses).

Each entry is the model's input schema in cog's OpenAPI shape (``components.schemas.Input`` with
enums in their own components, referenced through ``allOf``), taken from the model's Replicate
"API" page, plus what the double needs to render like the model (frame rate, fixed length) and
whether the model is *official* (predictions report ``"version": "hidden"``).

Sources (checked 2026-12 through the search index; re-check on each page):
- https://replicate.com/bytedance/seedance-1-lite/versions/f22bbc7d965c70af30ba3b157e3bb05d232136555885e934b92878ad773f48c1/api
- https://replicate.com/minimax/video-01/versions/608bbe118537f175d1078bbe8cb0b4f656992c14fc80b6a07f53c9a8ad304159/api
- https://replicate.com/kwaivgi/kling-v2.1/versions/daad218feb714b03e2a1ac445986aebb9d05243cd00da2af17be2e4049f48f69/api
- wan-2.2-i2v-fast, seedance-1-pro(-fast), veo-3.1-fast: /work/shared/reference/replicate.md and
  the models' pages as far as the index holds them (see the notes per model).
- wan-2.7-i2v: the reference sheet (names from copies of its readme, not its schema) and the
  upstream (Alibaba) API's documented limits; see ``_wan_27_i2v``.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

ASPECT_RATIOS = ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"]


@dataclass(frozen=True)
class ServedModel:
    name: str
    openapi_schema: JSON
    official: bool = True
    render_fps: int = 24  # the frame rate the real model renders at
    fps_input: str | None = None  # input that sets the output frame rate, if any
    duration_input: str | None = None
    frames_input: str | None = None
    fixed_seconds: float = 5.0  # length when no duration/frames input says otherwise
    image_inputs: tuple[str, ...] = ()
    first_frame_input: str | None = None
    seed_input: str | None = None
    # Clip continuation (wan-2.7-i2v's first_clip): the input, the source length it takes, and
    # the model's rule (outside the schema) that it starts from exactly one of frame or clip.
    clip_input: str | None = None
    clip_seconds: tuple[float, float] | None = None
    frame_or_clip: bool = False
    extra: JSON = field(default_factory=dict)

    @property
    def version_id(self) -> str:
        """A stable 64-hex version id (only community models can be run by it)."""
        return hashlib.sha256(f"loopback:{self.name}".encode()).hexdigest()


def _prop(kind: str, order: int, description: str = "", **more: Any) -> JSON:
    return {"type": kind, "title": description or kind, "x-order": order, **more}


def _uri(order: int, description: str) -> JSON:
    return _prop("string", order, description, format="uri")


def _enum(order: int, ref: str, default: Any, description: str) -> JSON:
    return {
        "allOf": [{"$ref": f"#/components/schemas/{ref}"}],
        "default": default,
        "x-order": order,
        "description": description,
    }


def _openapi(properties: JSON, required: list[str], enums: dict[str, tuple[str, list]]) -> JSON:
    components: JSON = {
        "Input": {
            "type": "object",
            "title": "Input",
            "required": required,
            "properties": properties,
        }
    }
    for ref, (kind, values) in enums.items():
        components[ref] = {"type": kind, "title": ref, "enum": values, "description": ref}
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "components": {"schemas": components},
    }


def _seedance(
    *, last_frame: bool, reference_images: bool, min_duration: int = 2, resolution: str = "720p"
) -> JSON:
    # seedance-1-pro's duration minimum is 3 (one copy of its schema, per the reference sheet).
    properties: JSON = {
        "prompt": _prop("string", 0, "Text prompt for video generation"),
        "image": _uri(1, "Input image for image-to-video generation"),
        "duration": _prop(
            "integer", 3, "Video duration in seconds", default=5, minimum=min_duration, maximum=12
        ),
        "resolution": _enum(4, "resolution", resolution, "Video resolution"),
        "aspect_ratio": _enum(5, "aspect_ratio", "16:9", "Ignored if an image is used."),
        "fps": _enum(6, "fps", 24, "Frame rate (frames per second)"),
        "camera_fixed": _prop("boolean", 7, "Whether to fix camera position", default=False),
        "seed": _prop("integer", 8, "Random seed. Set for reproducible generation"),
    }
    if last_frame:
        properties["last_frame_image"] = _uri(
            2,
            "Input image for last frame generation. Only works if an image start frame is "
            "given too.",
        )
    if reference_images:
        properties["reference_images"] = {
            "type": "array",
            "items": {"type": "string", "format": "uri"},
            "x-order": 9,
            "title": "Reference images (1-4); not with 1080p or first/last frame images",
        }
    return _openapi(
        properties,
        ["prompt"],
        {
            "resolution": ("string", ["480p", "720p", "1080p"]),
            "aspect_ratio": ("string", ASPECT_RATIOS),
            "fps": ("integer", [24]),
        },
    )


def _wan_22_i2v_fast() -> JSON:
    # Names from the reference sheet and public callers of the model (image, prompt, go_fast,
    # num_frames, resolution, frames_per_second, interpolate_output); num_frames 81-121 and
    # frames_per_second 5-30 as the reference states. image is required.
    properties = {
        "prompt": _prop("string", 0, "Prompt for video generation"),
        "image": _uri(1, "Input image to generate video from"),
        "last_image": _uri(2, "Optional last image to end the video with"),
        "num_frames": _prop(
            "integer", 3, "Number of video frames", default=81, minimum=81, maximum=121
        ),
        "resolution": _enum(4, "resolution", "480p", "Resolution of video"),
        "frames_per_second": _prop(
            "integer", 5, "Frames per second", default=16, minimum=5, maximum=30
        ),
        "go_fast": _prop("boolean", 6, "Go fast", default=True),
        "sample_shift": _prop(
            "number", 7, "Sample shift factor", default=12, minimum=1, maximum=20
        ),
        "interpolate_output": _prop("boolean", 8, "Interpolate to 30 fps", default=False),
        "disable_safety_checker": _prop("boolean", 9, "Disable safety checker", default=False),
        "lora_weights_transformer": _prop("string", 10, "LoRA weights (transformer)"),
        "lora_scale_transformer": _prop("number", 11, "LoRA scale (transformer)", default=1),
        "lora_weights_transformer_2": _prop("string", 12, "LoRA weights (transformer_2)"),
        "lora_scale_transformer_2": _prop("number", 13, "LoRA scale (transformer_2)", default=1),
        "seed": _prop("integer", 14, "Random seed. Leave blank for random"),
    }
    return _openapi(properties, ["prompt", "image"], {"resolution": ("string", ["480p", "720p"])})


def _minimax_video_01() -> JSON:
    properties = {
        "prompt": _prop("string", 0, "Text prompt for generation"),
        "first_frame_image": _uri(1, "First frame image for video generation"),
        "subject_reference": _uri(2, "An optional character reference image"),
        "prompt_optimizer": _prop("boolean", 3, "Use prompt optimizer", default=True),
    }
    return _openapi(properties, ["prompt"], {})


def _kling_v21() -> JSON:
    properties = {
        "prompt": _prop("string", 0, "Text prompt for video generation"),
        "negative_prompt": _prop("string", 1, "Things you do not want to see", default=""),
        "start_image": _uri(2, "First frame of the video. You must use a start image."),
        "end_image": _uri(3, "Last frame of the video (pro mode is required)"),
        "mode": _enum(4, "mode", "standard", "Standard is 720p, pro is 1080p. Both 24fps."),
        "duration": _enum(5, "duration", 5, "Duration of the video in seconds"),
    }
    return _openapi(
        properties,
        ["prompt", "start_image"],
        {"mode": ("string", ["standard", "pro"]), "duration": ("integer", [5, 10])},
    )


def _veo_31_fast() -> JSON:
    # https://replicate.com/google/veo-3.1-fast ("last frame support"); inputs as on veo-3-fast's
    # API page (prompt, image, negative_prompt, resolution, aspect_ratio, seed) plus duration
    # 4/6/8, last_frame and generate_audio of the 3.1 family. No reference_images: only
    # google/veo-3.1 declares it (reference sheet, 2026-12), so one sent here is dropped.
    properties = {
        "prompt": _prop("string", 0, "Text prompt for video generation"),
        "aspect_ratio": _enum(1, "aspect_ratio", "16:9", "Video aspect ratio"),
        "duration": _enum(2, "duration", 8, "Video duration in seconds"),
        "image": _uri(3, "Input image to start generating from. Ideal images are 1280x720"),
        "last_frame": _uri(4, "Ending image for interpolation (needs image)"),
        "negative_prompt": _prop("string", 5, "What to discourage"),
        "resolution": _enum(6, "resolution", "1080p", "Resolution of the generated video"),
        "generate_audio": _prop("boolean", 7, "Generate audio with the video", default=True),
        "seed": _prop("integer", 8, "Random seed. Omit for random generations"),
    }
    return _openapi(
        properties,
        ["prompt"],
        {
            "aspect_ratio": ("string", ["16:9", "9:16"]),
            "duration": ("integer", [4, 6, 8]),
            "resolution": ("string", ["720p", "1080p"]),
        },
    )


def _wan_27_i2v() -> JSON:
    # Names and ranges from the reference sheet (copies of the model's readme and one public
    # caller: first_frame, last_frame, prompt, negative_prompt, resolution, duration,
    # enable_prompt_expansion, seed) plus first_clip and audio; NOT from its schema, which the
    # search index does not hold. Only prompt is required in the sheet; the rest carry the
    # upstream API's defaults (resolution 1080p, duration 5, prompt expansion on) and its seed
    # range 0..2147483647 (also on Replicate's wan-2.7-r2v). "first_frame or first_clip, never
    # both" is a model rule outside the schema: ``ServedModel.frame_or_clip``.
    properties = {
        "prompt": _prop("string", 0, "Text prompt for video generation"),
        "first_frame": _uri(1, "First frame image. Not together with first_clip"),
        "last_frame": _uri(2, "Last frame image"),
        "first_clip": _uri(3, "Video clip (2-10 s, mp4/mov) to continue. Not with first_frame"),
        "audio": _uri(4, "Driving audio (wav/mp3)"),
        "negative_prompt": _prop("string", 5, "What should not appear in the video"),
        "resolution": _enum(6, "resolution", "1080p", "Output video resolution"),
        "duration": _prop(
            "integer", 7, "Video duration in seconds", default=5, minimum=2, maximum=15
        ),
        "enable_prompt_expansion": _prop("boolean", 8, "Rewrite the prompt", default=True),
        "seed": _prop("integer", 9, "Random seed", minimum=0, maximum=2147483647),
    }
    return _openapi(properties, ["prompt"], {"resolution": ("string", ["720p", "1080p"])})


def _community_video() -> JSON:
    """A community model (64-hex versions) for the pinning path: acme/community-video."""
    properties = {
        "prompt": _prop("string", 0, "Prompt"),
        "init_image": _uri(1, "Start frame"),
        "seconds": _prop("integer", 2, "Length", default=4, minimum=1, maximum=8),
        "seed": _prop("integer", 3, "Seed"),
    }
    return _openapi(properties, ["prompt"], {})


def _served() -> dict[str, ServedModel]:
    seedance = {
        "fps_input": "fps",
        "duration_input": "duration",
        "seed_input": "seed",
        "first_frame_input": "image",
    }
    models = [
        ServedModel(
            "bytedance/seedance-1-lite",
            _seedance(last_frame=True, reference_images=True),
            image_inputs=("image", "last_frame_image"),
            **seedance,
        ),
        ServedModel(
            "bytedance/seedance-1-pro",
            _seedance(last_frame=True, reference_images=False, min_duration=3),
            image_inputs=("image", "last_frame_image"),
            **seedance,
        ),
        ServedModel(
            "bytedance/seedance-1-pro-fast",
            _seedance(last_frame=False, reference_images=False, resolution="1080p"),
            image_inputs=("image",),
            **seedance,
        ),
        ServedModel(
            "wan-video/wan-2.2-i2v-fast",
            _wan_22_i2v_fast(),
            render_fps=16,
            fps_input="frames_per_second",
            frames_input="num_frames",
            image_inputs=("image", "last_image"),
            first_frame_input="image",
            seed_input="seed",
        ),
        # video-01 renders 6 s at 25 fps whatever you ask: there is no duration or fps input.
        ServedModel(
            "minimax/video-01",
            _minimax_video_01(),
            render_fps=25,
            fixed_seconds=6.0,
            image_inputs=("first_frame_image", "subject_reference"),
            first_frame_input="first_frame_image",
        ),
        ServedModel(
            "kwaivgi/kling-v2.1",
            _kling_v21(),
            duration_input="duration",
            image_inputs=("start_image", "end_image"),
            first_frame_input="start_image",
        ),
        ServedModel(
            "google/veo-3.1-fast",
            _veo_31_fast(),
            duration_input="duration",
            image_inputs=("image", "last_frame"),
            first_frame_input="image",
            seed_input="seed",
        ),
        # 30 fps is third parties' figure for Wan 2.7 (unconfirmed on Replicate).
        ServedModel(
            "wan-video/wan-2.7-i2v",
            _wan_27_i2v(),
            render_fps=30,
            duration_input="duration",
            image_inputs=("first_frame", "last_frame"),
            first_frame_input="first_frame",
            seed_input="seed",
            clip_input="first_clip",
            clip_seconds=(2.0, 10.0),
            frame_or_clip=True,
        ),
        ServedModel(
            "acme/community-video",
            _community_video(),
            official=False,
            duration_input="seconds",
            image_inputs=("init_image",),
            first_frame_input="init_image",
            seed_input="seed",
        ),
    ]
    return {model.name: model for model in models}


SERVED_MODELS: dict[str, ServedModel] = _served()


def served_models() -> dict[str, ServedModel]:
    """A fresh copy (tests change schemas on their own server only)."""
    return copy.deepcopy(SERVED_MODELS)


def without_input(model: ServedModel, name: str) -> ServedModel:
    """``model`` served with ``name`` removed from its schema (e.g. a version without seed)."""
    schema = copy.deepcopy(model.openapi_schema)
    component = schema["components"]["schemas"]["Input"]
    component["properties"].pop(name, None)
    component["required"] = [item for item in component.get("required", []) if item != name]
    seed_input = None if model.seed_input == name else model.seed_input
    return ServedModel(**{**model.__dict__, "openapi_schema": schema, "seed_input": seed_input})
