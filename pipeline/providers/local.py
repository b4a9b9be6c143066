"""The built-in local model as a provider.

It renders inside ``submit`` (a local model is compute on this machine, not a remote queue), writes
its prediction record next to the outputs in its scratch directory (COHERENCE_LOCAL_SCRATCH_DIR),
and ``fetch`` reads that record, so any process sharing that directory can complete a scene
another process submitted.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from coherence_project.conf import config
from pipeline import localmodel, media
from pipeline.providers.base import (
    FetchedOutput,
    PredictionState,
    PredictionStatus,
    ProviderError,
    SceneRequest,
    Submission,
)
from pipeline.providers.registry import LOCAL_MODEL, LOCAL_MODEL_VERSION

RECORD = "prediction.json"


class LocalProvider:
    name = "local"

    def __init__(self, root: Path | None = None, latency: float | None = None) -> None:
        # Scratch space of its own (never under MEDIA_ROOT): the pipeline stores the outputs
        # through Django's storage, this directory only holds the model's raw renders.
        self.root = Path(root or config.LOCAL_SCRATCH_DIR)
        # Simulated model time, for benchmarks of the orchestration around a slow model.
        self.latency = latency if latency is not None else config.LOCAL_LATENCY

    def build_input(self, request: SceneRequest) -> dict[str, Any]:
        provider_input: dict[str, Any] = {
            "prompt": request.prompt,
            "duration": request.duration,
            "fps": request.fps,
            "width": request.width,
            "height": request.height,
        }
        if request.seed is not None:
            provider_input["seed"] = request.seed
        if request.init_latent_path is not None:
            provider_input["init_latent"] = f"sha256:{media.sha256_file(request.init_latent_path)}"
        if request.init_image_path is not None:
            provider_input["image"] = f"sha256:{media.sha256_file(request.init_image_path)}"
        return provider_input

    def submit(self, request: SceneRequest) -> Submission:
        """Render at once (the local model is fast) and keep the result as a finished prediction
        in its own scratch folder, for ``fetch`` and ``fetch_output`` to read."""
        if request.model != LOCAL_MODEL:
            raise ProviderError(f"The local provider has no model {request.model!r}")
        if request.init_clip_path is not None:
            # It starts from a true latent; a clip would be ignored, and the scene rendered cold.
            raise ProviderError(
                f"model {LOCAL_MODEL} cannot continue a clip; pass the final latent as "
                "init_latent_path",
                retryable=False,
            )
        prediction_id = f"local-{uuid.uuid4().hex}"
        out_dir = self.root / prediction_id
        out_dir.mkdir(parents=True, exist_ok=True)
        provider_input = self.build_input(request)
        try:
            result, elapsed = self._render(request, out_dir)
        except (ValueError, OSError, media.MediaError) as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise ProviderError(f"Local model could not render: {exc}") from exc
        record = {
            "id": prediction_id,
            "status": PredictionStatus.SUCCEEDED.value,
            "input": provider_input,
            "seed_used": result.seed,
            "video": result.video.path.name,
            "latent": result.latent_path.name,
            "last_frame": result.last_frame_path.name,
            "predict_time": elapsed,
        }
        (out_dir / RECORD).write_text(json.dumps(record))
        return Submission(
            prediction_id=prediction_id,
            provider_input=provider_input,
            seed_applied=request.seed is not None,
            model_version=LOCAL_MODEL_VERSION,
            finished=self._state(record),
        )

    def _render(
        self, request: SceneRequest, out_dir: Path
    ) -> tuple[localmodel.RenderResult, float]:
        """The model's render of ``request`` into ``out_dir``, and its (simulated) predict time."""
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
        started = time.monotonic()
        if self.latency:
            time.sleep(self.latency)
        result = localmodel.render(render_request, out_dir, "output")
        return result, time.monotonic() - started

    def state_from_webhook(self, payload: Mapping[str, Any]) -> PredictionState:
        raise ProviderError("the local model sends no webhooks")

    def fetch(self, prediction_id: str) -> PredictionState:
        record_path = self.root / prediction_id / RECORD
        if not record_path.exists():
            return PredictionState(
                prediction_id, PredictionStatus.FAILED, error="Local prediction record is missing"
            )
        return self._state(json.loads(record_path.read_text()))

    def _state(self, record: Mapping[str, Any]) -> PredictionState:
        """A prediction's state from its record (the one ``submit`` wrote)."""
        out_dir = self.root / record["id"]
        files = {
            key: str(out_dir / record[key]) for key in ("latent", "last_frame") if key in record
        }
        return PredictionState(
            prediction_id=record["id"],
            status=PredictionStatus(record["status"]),
            output_url=str(out_dir / record["video"]),
            predict_time=record.get("predict_time"),
            extra=files,
        )

    def fetch_output(self, state: PredictionState, dest_dir: Path) -> FetchedOutput:
        if state.output_url is None:
            raise ProviderError(f"Prediction {state.prediction_id} has no output")
        last_frame = state.extra.get("last_frame")  # records written before it was kept lack it
        return FetchedOutput(
            video_path=Path(state.output_url),
            latent_path=Path(state.extra["latent"]),
            last_frame_path=Path(last_frame) if last_frame else None,
        )

    def cancel(self, prediction_id: str) -> None:
        # Rendering is synchronous; there is never anything in flight to cancel.
        return None
