"""Open-weights video models (LTX-Video, Wan 2.x) run through diffusers, with a true latent
hand-over. Needs the ``[diffusion]`` extra (torch, diffusers, transformers, accelerate).

The hand-over holds latent frames: a continuous scene's first latent frame is the predecessor's
final latent frame (the stored latent, no decode/encode), re-noised to each step's noise level and
written back after every denoising step, so after the last step (noise level 0) it *is* the
predecessor's frame, exactly, while the rest of the clip is denoised around it under the new
prompt. Both families are flow-matching models, where the latent at noise level s is
``(1 - s) * clean + s * noise``; holding frames this way needs nothing from a pipeline but its
step callback, so LTX and Wan share one code path. When only a picture is available (another
model's scene, another size, a lost latent, a chain head's start image), the picture goes through
the pipeline's VAE into one latent frame and is held the same way: the ``first_frame`` method.

A pipeline is loaded once per worker process and reused for every scene (cached by model, device,
dtype and memory options): a second scene pays no load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline import media
from pipeline.providers.base import ProviderError, SceneRequest
from pipeline.providers.config import DiffusersOptions
from pipeline.providers.diffusion_families import (
    DIFFUSERS_PROVIDER,
    LTX,
    DiffusersModel,
    ModelNotUsable,
    inspect_model,
)
from pipeline.providers.inprocess import (
    InProcessProvider,
    ProgressCallback,
    RenderCanceled,
    Rendered,
)

HELD_FRAMES = 1  # latent frames carried over: one is one picture on these causal VAEs


def pick_device(name: str) -> str:
    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        dtype = getattr(torch, name)
    except AttributeError:
        raise ProviderError(f"unknown torch dtype {name!r}") from None
    if not isinstance(dtype, torch.dtype):
        raise ProviderError(f"unknown torch dtype {name!r}")
    return dtype


# --- one load per process ------------------------------------------------------------------------

_PIPELINES: dict[tuple[Any, ...], Any] = {}
_LOAD_LOCK = threading.Lock()


def load_pipeline(model: DiffusersModel, *, device: str, dtype: torch.dtype, options: Any) -> Any:
    """The model's pipeline, loaded with ``DiffusionPipeline.from_pretrained`` on first use and
    kept for the life of the process (about 0.1 s for a tiny model, minutes for real weights)."""
    key = (
        model.pretrained_name_or_path,
        model.class_name,
        device,
        dtype,
        options.cpu_offload,
        options.vae_tiling,
    )
    with _LOAD_LOCK:
        if key not in _PIPELINES:
            _PIPELINES[key] = _load(model, device=device, dtype=dtype, options=options)
        return _PIPELINES[key]


def _load(model: DiffusersModel, *, device: str, dtype: torch.dtype, options: Any) -> Any:
    from diffusers import DiffusionPipeline, LTXPipeline
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()  # a worker's log is no terminal
    try:
        pipe = DiffusionPipeline.from_pretrained(model.pretrained_name_or_path, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ProviderError(f"could not load diffusers model {model.name!r}: {exc}") from exc
    if model.family is LTX and type(pipe) is not LTXPipeline:
        pipe = LTXPipeline.from_pipe(pipe)  # LTXConditionPipeline: same components
    if options.cpu_offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    if options.vae_tiling:
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def loaded_pipelines() -> int:
    return len(_PIPELINES)


def forget_pipelines() -> None:
    """Drop every loaded pipeline (tests and benchmarks measure a cold load)."""
    with _LOAD_LOCK:
        _PIPELINES.clear()


# --- latents in one layout ----------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """The latent grid of one render: frames x height x width cells."""

    frames: int
    height: int
    width: int


class LatentLayout:
    """Latents as [B, C, F, H, W] whatever form a pipeline steps them in (LTX packs them into
    tokens; Wan does not), and a picture as one normalised latent frame."""

    def __init__(self, pipe: Any, family_name: str) -> None:
        self.pipe = pipe
        self.packed = family_name == LTX.name

    def temporal(self) -> int:
        pipe = self.pipe
        return (
            pipe.vae_temporal_compression_ratio if self.packed else pipe.vae_scale_factor_temporal
        )

    def spatial(self) -> int:
        pipe = self.pipe
        return pipe.vae_spatial_compression_ratio if self.packed else pipe.vae_scale_factor_spatial

    def grid(self, frames: int, width: int, height: int) -> Grid:
        return Grid(
            (frames - 1) // self.temporal() + 1, height // self.spatial(), width // self.spatial()
        )

    def unpack(self, latents: torch.Tensor, grid: Grid) -> torch.Tensor:
        if not self.packed:
            return latents
        pipe = self.pipe
        return pipe._unpack_latents(
            latents,
            grid.frames,
            grid.height,
            grid.width,
            pipe.transformer_spatial_patch_size,
            pipe.transformer_temporal_patch_size,
        )

    def pack(self, latents: torch.Tensor) -> torch.Tensor:
        if not self.packed:
            return latents
        pipe = self.pipe
        return pipe._pack_latents(
            latents, pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
        )

    @torch.no_grad()
    def encode_picture(self, picture: np.ndarray, width: int, height: int) -> torch.Tensor:
        """A HxWx3 uint8 picture as one latent frame [1, C, 1, h, w], normalised as the
        pipeline's latents are (through the VAE: the pixel round trip a latent hand-over skips)."""
        pipe = self.pipe
        vae = pipe.vae
        pixels = pipe.video_processor.preprocess(picture, height=height, width=width)
        pixels = pixels.to(device=vae.device, dtype=vae.dtype).unsqueeze(2)
        latent = vae.encode(pixels).latent_dist.mode().float()
        if self.packed:
            return pipe._normalize_latents(
                latent, vae.latents_mean, vae.latents_std, vae.config.scaling_factor
            )
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(latent)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(latent)
        return (latent - mean) / std

    @torch.no_grad()
    def decode_picture(self, latent: torch.Tensor) -> np.ndarray:
        """One normalised latent frame [1, C, 1, h, w] as a HxWx3 uint8 picture (Wan's VAE:
        image-led Wan pipelines are the only ones that need a picture beside a latent)."""
        pipe = self.pipe
        vae = pipe.vae
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
        latent = latent.float() * std + mean
        video = vae.decode(latent.to(device=vae.device, dtype=vae.dtype), return_dict=False)[0]
        frames = pipe.video_processor.postprocess_video(video, output_type="np")[0]
        return np.clip(frames[0] * 255 + 0.5, 0, 255).astype(np.uint8)


# --- the render ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderPlan:
    """The scene as the pipeline will render it: sizes rounded to what it accepts."""

    width: int
    height: int
    frames: int
    fps: int
    steps: int
    guidance: float

    @property
    def seconds(self) -> float:
        return (self.frames - 1) / self.fps


def render_plan(
    model: DiffusersModel, request: SceneRequest, options: DiffusersOptions
) -> RenderPlan:
    family = model.family
    width, height = family.size_for(request.width, request.height)
    fps = family.native_fps
    return RenderPlan(
        width=width,
        height=height,
        frames=family.frames_for(request.duration, fps),
        fps=fps,
        steps=options.steps or family.default_steps,
        guidance=options.guidance if options.guidance is not None else family.default_guidance,
    )


class StepHook:
    """The pipeline's ``callback_on_step_end``: holds the hand-over frames at each step's noise
    level, reports progress, stops on cancel, and keeps the final latent."""

    def __init__(
        self,
        layout: LatentLayout,
        grid: Grid,
        held: torch.Tensor | None,
        generator: torch.Generator,
        steps: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.layout, self.grid, self.held, self.steps = layout, grid, held, steps
        self.progress = progress
        self.final: torch.Tensor | None = None
        self.noise = None
        if held is not None:  # the held frames' own noise, drawn from the scene's seed
            self.noise = torch.randn(
                held.shape, generator=generator, device=generator.device, dtype=torch.float32
            )

    def __call__(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict:
        latents = self.layout.unpack(tensors["latents"], self.grid)
        if self.held is not None:
            sigma = float(pipe.scheduler.sigmas[step + 1])
            frames = self.held.shape[2]
            noise = self.noise.to(latents)
            held = self.held.to(latents)
            latents = latents.clone()
            latents[:, :, :frames] = held if sigma == 0.0 else (1 - sigma) * held + sigma * noise
            tensors["latents"] = self.layout.pack(latents)
        if step == self.steps - 1:
            self.final = latents.detach().float().cpu().clone()
        if self.progress is not None and self.progress((step + 1) / self.steps) is False:
            raise RenderCanceled("canceled between denoising steps", retryable=False)
        return tensors


def _call_pipeline(pipe: Any, request: SceneRequest, plan: RenderPlan, **kwargs: Any) -> np.ndarray:
    options: dict[str, Any] = {
        "prompt": request.prompt,
        "width": plan.width,
        "height": plan.height,
        "num_frames": plan.frames,
        "num_inference_steps": plan.steps,
        "guidance_scale": plan.guidance,
        "output_type": "np",
        **kwargs,
    }
    if "frame_rate" in _call_parameters(type(pipe)):
        options["frame_rate"] = plan.fps
    return pipe(**options).frames[0]


def _call_parameters(cls: type) -> frozenset[str]:
    import inspect

    return frozenset(inspect.signature(cls.__call__).parameters)


def _is_out_of_memory(exc: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(exc, oom) or "out of memory" in str(exc).lower()


class DiffusersProvider(InProcessProvider):
    name = DIFFUSERS_PROVIDER
    reports_progress = True

    def __init__(self, options: DiffusersOptions) -> None:
        super().__init__(options.scratch_dir)
        self.options = options
        self.device = pick_device(options.device)
        self.dtype = pick_dtype(options.dtype, self.device)

    def check_model(self, model: str) -> None:
        self.model(model)

    def model(self, name: str) -> DiffusersModel:
        try:
            return inspect_model(name)
        except ModelNotUsable as exc:
            raise ProviderError(str(exc)) from None

    def build_input(self, request: SceneRequest) -> dict[str, Any]:
        plan = render_plan(self.model(request.model), request, self.options)
        sent: dict[str, Any] = {
            "prompt": request.prompt,
            "width": plan.width,
            "height": plan.height,
            "num_frames": plan.frames,
            "fps": plan.fps,
            "num_inference_steps": plan.steps,
            "guidance_scale": plan.guidance,
        }
        return {**sent, **self.seed_and_start(request)}

    def render(
        self, request: SceneRequest, out_dir: Path, progress: ProgressCallback | None
    ) -> Rendered:
        model = self.model(request.model)
        if (
            model.needs_image
            and request.init_image_path is None
            and request.init_latent_path is None
        ):
            raise ProviderError(f"{model.class_name} needs a first-frame image; none was given")
        pipe = load_pipeline(model, device=self.device, dtype=self.dtype, options=self.options)
        plan = render_plan(model, request, self.options)
        try:
            frames, final = self._denoise(pipe, model, request, plan, progress)
        except RenderCanceled:
            raise
        except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
            raise self._render_error(exc, plan) from exc
        details = self._details(model, plan, scheduler=type(pipe.scheduler).__name__)
        return self._write(out_dir, frames, final, request, details)

    def _denoise(
        self,
        pipe: Any,
        model: DiffusersModel,
        request: SceneRequest,
        plan: RenderPlan,
        progress: ProgressCallback | None,
    ) -> tuple[np.ndarray, torch.Tensor]:
        layout = LatentLayout(pipe, model.family.name)
        grid = layout.grid(plan.frames, plan.width, plan.height)
        held, image = self._held_frames(layout, grid, request, plan)
        if model.needs_image and image is None and held is not None:
            # An image-led pipeline continuing a latent: it is also shown the held frame's
            # picture (its own condition input), while the latent frame itself stays exact.
            image = _pil(layout.decode_picture(held))
        generator = self._generator(request.seed)
        hook = StepHook(layout, grid, held, generator, plan.steps, progress)
        extra: dict[str, Any] = {"generator": generator, "callback_on_step_end": hook}
        if model.needs_image:
            extra["image"] = image
        with torch.inference_mode():
            frames = _call_pipeline(pipe, request, plan, **extra)
        assert hook.final is not None  # the hook ran for the last step
        return frames, hook.final

    def _generator(self, seed: int | None) -> torch.Generator:
        device = "cpu" if self.device == "mps" else self.device
        generator = torch.Generator(device=device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        return generator

    def _held_frames(
        self, layout: LatentLayout, grid: Grid, request: SceneRequest, plan: RenderPlan
    ) -> tuple[torch.Tensor | None, Any]:
        """The latent frames to hold, and the picture an image-led pipeline is given."""
        picture = media.load_png(request.init_image_path) if request.init_image_path else None
        if request.init_latent_path is not None:
            stored = torch.from_numpy(np.load(request.init_latent_path, allow_pickle=False))
            held = stored[:, :, -HELD_FRAMES:]
            if held.shape[1] != layout_channels(layout) or tuple(held.shape[3:]) != (
                grid.height,
                grid.width,
            ):
                raise ProviderError(
                    f"the stored latent {tuple(stored.shape)} does not fit this scene's latent "
                    f"grid ({grid.frames}x{grid.height}x{grid.width}); it needs frame conditioning"
                )
            return held, picture
        if picture is not None:
            return layout.encode_picture(picture, plan.width, plan.height), _pil(picture)
        return None, None

    def _render_error(self, exc: BaseException, plan: RenderPlan) -> ProviderError:
        if not _is_out_of_memory(exc):
            return ProviderError(f"diffusers render failed: {exc}")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the worker goes on to its next task
        return ProviderError(
            f"out of {self.device} memory rendering {plan.width}x{plan.height}, {plan.frames} "
            "frames: lower the size or duration, or set COHERENCE_DIFFUSERS_CPU_OFFLOAD=true "
            "or COHERENCE_DIFFUSERS_VAE_TILING=true"
        )

    def _write(
        self,
        out_dir: Path,
        frames: np.ndarray,
        final: torch.Tensor,
        request: SceneRequest,
        details: Mapping[str, Any],
    ) -> Rendered:
        pictures = [np.clip(f * 255 + 0.5, 0, 255).astype(np.uint8) for f in frames]
        video = media.encode(pictures, out_dir / "output.mp4", fps=details["rendered"]["fps"])
        latent_path = out_dir / "output.latent.npy"
        with latent_path.open("wb") as handle:  # float32 [1, C, F, h, w], no pickles
            np.save(handle, final.numpy().astype(np.float32))
        last = out_dir / "output.last.png"
        media.save_png(pictures[-1], last)  # lossless: the frame a fallback hands on
        return Rendered(video.path, latent_path, last, request.seed, details)

    def _details(
        self, model: DiffusersModel, plan: RenderPlan, *, scheduler: str
    ) -> Mapping[str, Any]:
        import diffusers

        return {
            "rendered": {
                "width": plan.width,
                "height": plan.height,
                "frames": plan.frames,
                "fps": plan.fps,
                "seconds": plan.seconds,
            },
            "pipeline": model.class_name,
            "family": model.family.name,
            "model_identity": dict(model.identity),
            "steps": plan.steps,
            "guidance": plan.guidance,
            "scheduler": scheduler,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
        }


def layout_channels(layout: LatentLayout) -> int:
    vae = layout.pipe.vae
    return int(getattr(vae.config, "latent_channels", None) or vae.config.z_dim)


def _pil(picture: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(picture)


def timed_load(model: DiffusersModel, options: DiffusersOptions) -> float:
    """Seconds one ``load_pipeline`` call took (benchmarks: a cold load against a cached one)."""
    device = pick_device(options.device)
    started = time.perf_counter()
    load_pipeline(model, device=device, dtype=pick_dtype(options.dtype, device), options=options)
    return time.perf_counter() - started
