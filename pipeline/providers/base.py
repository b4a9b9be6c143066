"""The one small interface every video provider implements: submit, fetch, fetch output, cancel.

Submitting and completing are separate steps so a worker never waits for the life of a hosted
prediction; the pipeline stores the prediction id the moment ``submit`` returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class PredictionStatus(StrEnum):
    STARTING = "starting"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (self.SUCCEEDED, self.FAILED, self.CANCELED)


@dataclass(frozen=True)
class SceneRequest:
    """Everything a provider needs to render one scene."""

    model: str
    prompt: str
    duration: float
    seed: int | None
    width: int
    height: int
    fps: int
    # No version here: a model runs by name, or (a community model) by the 64-hex version pinned
    # in the registry. A version a prediction reported is a record, never an input.
    # The hand-over: the local model takes the predecessor's final latent (.npy); a hosted model
    # whose stored schema declares a clip input (ModelSpec.continues_clip) the predecessor's clip
    # (mp4), sent on that input instead of the first frame; other hosted models its last frame
    # (PNG) through their first-frame image input. A chain head may instead start from a given
    # image (the scene's or the generation's reference image), also ``init_image_path``.
    # At most one is set.
    init_latent_path: Path | None = None
    init_image_path: Path | None = None
    init_clip_path: Path | None = None
    webhook_url: str | None = None
    # The model's stored live Input component (pipeline.providers.schema); None: the registry's
    # knowledge only. When set, only inputs it declares are sent.
    input_schema: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        starts = [
            name
            for name in ("init_latent_path", "init_image_path", "init_clip_path")
            if getattr(self, name) is not None
        ]
        if len(starts) > 1:
            # A clip continuation excludes the first frame (wan-2.7's first_clip is "not together
            # with first_frame"): one start per scene, never two.
            raise ValueError(f"a scene starts from at most one of {', '.join(starts)}")


@dataclass(frozen=True)
class Submission:
    prediction_id: str
    # Exactly what was sent to the model; large blobs (data URIs, latents) appear as sha256 refs.
    provider_input: dict[str, Any]
    seed_applied: bool
    seed_note: str = ""  # why the seed was not applied; empty when it was (or none was asked)
    # The version the prediction reported, as reported ("hidden" for official models): a record,
    # never something to send back.
    model_version: str | None = None
    schema_fingerprint: str | None = None  # the stored schema the input was built against
    dropped_inputs: tuple[str, ...] = ()  # inputs left out because the schema does not declare them
    # The prediction's final state when it ended during ``submit`` (the local model renders there):
    # the caller completes the scene at once, with no ``fetch`` and no second claim.
    finished: PredictionState | None = None


@dataclass(frozen=True)
class PredictionState:
    prediction_id: str
    status: PredictionStatus
    error: str | None = None
    output_url: str | None = None
    predict_time: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchedOutput:
    video_path: Path
    latent_path: Path | None = None  # only the local model exposes its final latent
    # The clip's last frame exactly as rendered, before encoding (the local model): stored as the
    # scene's last frame while the clip is kept as is, instead of one decoded from the clip.
    last_frame_path: Path | None = None


class ProviderError(Exception):
    """A provider call failed. ``retryable`` says whether the same call may succeed later."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class Provider(Protocol):
    name: str

    def submit(self, request: SceneRequest) -> Submission: ...

    def fetch(self, prediction_id: str) -> PredictionState: ...

    def state_from_webhook(self, payload: Mapping[str, Any]) -> PredictionState:
        """A verified webhook body as a ``PredictionState`` (no request to the provider)."""
        ...

    def fetch_output(self, state: PredictionState, dest_dir: Path) -> FetchedOutput: ...

    def cancel(self, prediction_id: str) -> None: ...
