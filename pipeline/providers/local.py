"""The built-in local model as a provider (an in-process provider: it renders inside ``submit``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import localmodel, media
from pipeline.providers.base import ProviderError, SceneRequest
from pipeline.providers.inprocess import InProcessProvider, ProgressCallback, Rendered
from pipeline.providers.registry import LOCAL_MODEL, LOCAL_MODEL_VERSION


class LocalProvider(InProcessProvider):
    name = "local"
    model_version = LOCAL_MODEL_VERSION

    def __init__(self, root: Path, latency: float = 0.0) -> None:
        super().__init__(Path(root))
        # Simulated model time, for benchmarks of the orchestration around a slow model.
        self.latency = latency

    def check_model(self, model: str) -> None:
        if model != LOCAL_MODEL:
            raise ProviderError(f"The local provider has no model {model!r}")

    def build_input(self, request: SceneRequest) -> dict[str, Any]:
        provider_input: dict[str, Any] = {
            "prompt": request.prompt,
            "duration": request.duration,
            "fps": request.fps,
            "width": request.width,
            "height": request.height,
        }
        return {**provider_input, **self.seed_and_start(request)}

    def render(
        self, request: SceneRequest, out_dir: Path, progress: ProgressCallback | None
    ) -> Rendered:
        """The model's render of ``request`` into ``out_dir`` (after the simulated latency)."""
        render_request = localmodel.RenderRequest(
            prompt=request.prompt,
            seed=request.seed,
            duration=request.duration,
            fps=request.fps,
            width=request.width,
            height=request.height,
            init_latent=np.load(request.init_latent_path) if request.init_latent_path else None,
            init_image=(
                media.load_png(request.init_image_path) if request.init_image_path else None
            ),
        )
        if self.latency:
            time.sleep(self.latency)
        result = localmodel.render(render_request, out_dir, "output")
        return Rendered(
            video=result.video.path,
            latent=result.latent_path,
            last_frame=result.last_frame_path,
            seed_used=result.seed,
            details={},
        )
