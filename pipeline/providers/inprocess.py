"""Providers whose model runs in this process: the built-in local model and diffusers pipelines.

They render inside ``submit`` (compute on this machine, not a remote queue) and keep each result as
a finished prediction: a record beside the outputs in a scratch directory of their own, which
``fetch`` reads, so any process sharing that directory can complete a scene another one submitted.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import media
from pipeline.providers.base import (
    FetchedOutput,
    PredictionState,
    PredictionStatus,
    ProviderError,
    SceneRequest,
    Submission,
)

RECORD = "prediction.json"

# Called between denoising steps with the share done (0..1); returning False asks the render to
# stop (the scene was canceled).
ProgressCallback = Callable[[float], bool]


@dataclass(frozen=True)
class Rendered:
    """One render's files in its prediction folder, and what the record keeps of it."""

    video: Path
    latent: Path
    last_frame: Path
    seed_used: int | None
    details: Mapping[str, Any]  # model-specific facts for the recipe (sizes rounded, versions…)


class RenderCanceled(ProviderError):
    """The scene was canceled between two denoising steps; nothing was kept."""


class InProcessProvider(ABC):
    """Submit renders at once; ``fetch``/``fetch_output`` read the record it leaves."""

    name = ""
    model_version: str | None = None
    reports_progress = False  # whether ``render`` calls its progress callback (denoising steps)

    def __init__(self, root: Path) -> None:
        # Scratch space of its own (never under MEDIA_ROOT): the pipeline stores the outputs
        # through Django's storage, this directory only holds the model's raw renders.
        self.root = Path(root)

    # -- what a subclass provides --

    @abstractmethod
    def check_model(self, model: str) -> None:
        """Raise ``ProviderError`` unless this provider can run ``model``."""

    @abstractmethod
    def build_input(self, request: SceneRequest) -> dict[str, Any]:
        """What the model is given, as recorded (files as ``sha256:`` references)."""

    @abstractmethod
    def render(
        self, request: SceneRequest, out_dir: Path, progress: ProgressCallback | None
    ) -> Rendered:
        """Render ``request`` into ``out_dir``."""

    @staticmethod
    def seed_and_start(request: SceneRequest) -> dict[str, Any]:
        """The seed, and what the scene starts from as a ``sha256:`` reference (the file itself
        is never recorded): the part of every in-process model's recorded input they share."""
        recorded: dict[str, Any] = {}
        if request.seed is not None:
            recorded["seed"] = request.seed
        if request.init_latent_path is not None:
            recorded["init_latent"] = f"sha256:{media.sha256_file(request.init_latent_path)}"
        if request.init_image_path is not None:
            recorded["image"] = f"sha256:{media.sha256_file(request.init_image_path)}"
        return recorded

    def seed_note(self, request: SceneRequest) -> str:
        return ""

    # -- the shared life of a prediction --

    def submit(
        self, request: SceneRequest, *, progress: ProgressCallback | None = None
    ) -> Submission:
        """Render now and keep the result as a finished prediction in the scratch folder."""
        self.check_model(request.model)
        if request.init_clip_path is not None:
            # It starts from a true latent; a clip would be ignored, and the scene rendered cold.
            raise ProviderError(
                f"model {request.model} cannot continue a clip; pass the final latent as "
                "init_latent_path",
                retryable=False,
            )
        prediction_id = f"{self.name}-{uuid.uuid4().hex}"
        out_dir = self.root / prediction_id
        out_dir.mkdir(parents=True, exist_ok=True)
        provider_input = self.build_input(request)
        started = time.monotonic()
        try:
            rendered = self.render(request, out_dir, progress)
        except ProviderError:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise
        except (ValueError, OSError, media.MediaError) as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise ProviderError(f"{self.name.capitalize()} model could not render: {exc}") from exc
        record = {
            "id": prediction_id,
            "status": PredictionStatus.SUCCEEDED.value,
            "input": provider_input,
            "seed_used": rendered.seed_used,
            "video": rendered.video.name,
            "latent": rendered.latent.name,
            "last_frame": rendered.last_frame.name,
            "predict_time": time.monotonic() - started,
            "details": dict(rendered.details),
        }
        (out_dir / RECORD).write_text(json.dumps(record))
        note = self.seed_note(request)
        return Submission(
            prediction_id=prediction_id,
            provider_input=provider_input,
            seed_applied=request.seed is not None and not note,
            seed_note=note,
            model_version=self.model_version,
            finished=self.state_of(record),
        )

    def state_from_webhook(self, payload: Mapping[str, Any]) -> PredictionState:
        raise ProviderError(f"the {self.name} provider sends no webhooks")

    def fetch(self, prediction_id: str) -> PredictionState:
        record_path = self.root / prediction_id / RECORD
        if not record_path.exists():
            return PredictionState(
                prediction_id, PredictionStatus.FAILED, error="Local prediction record is missing"
            )
        return self.state_of(json.loads(record_path.read_text()))

    def state_of(self, record: Mapping[str, Any]) -> PredictionState:
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
            extra={**files, "details": record.get("details") or {}},
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
        # Rendering happens inside submit; a cancel is seen there, between denoising steps.
        return None
