"""Hosted video models on Replicate, through the official ``replicate`` client.

``submit`` creates a prediction and returns at once; completion arrives by webhook or by the
reconciler calling ``fetch``. We never call ``prediction.wait()``: it polls every 0.5 s for the
whole life of the prediction and would pin a worker for minutes.

Retries: the client retries GETs on 429/503/504 itself but never a POST, so creating a prediction is
retried here — 429 after its Retry-After (bounded), 5xx and connection failures with exponential
backoff. A read timeout or a 504 on create is *not* retried, here or by the pipeline: the
prediction may already exist, and a second create would bill a second video. The scene fails with
a message saying so.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import replicate
from replicate.exceptions import ReplicateError

from pipeline import media
from pipeline.providers.base import (
    FetchedOutput,
    PredictionState,
    PredictionStatus,
    ProviderError,
    SceneRequest,
    Submission,
)
from pipeline.providers.config import ReplicateConfig
from pipeline.providers.registry import ModelRegistry, ModelSpec, UnknownModelError
from pipeline.providers.schema import (
    InputSchema,
    required_inputs,
    schema_or_none,
    seedless_reason,
    takes_seed,
)

logger = logging.getLogger("coherence.providers.replicate")

T = TypeVar("T")

# Replicate recommends data URIs only for files under 1 MB; larger files go through the files API
# (up to 100 MB). Our conditioning frames are PNGs: a 512x288 frame is well under 1 MB, a 1080p
# frame from a hosted model is not; a previous clip (clip continuation) is an mp4 either way.
DATA_URI_MAX_BYTES = 1_000_000
DEFAULT_MAX_RETRY_AFTER = 60.0
MAX_BACKOFF_SECONDS = 30.0
DOWNLOAD_CHUNK_BYTES = 1 << 16

_RETRY_IN_DETAIL = re.compile(r"available in (\d+(?:\.\d+)?) second", re.IGNORECASE)
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

AUTH_MESSAGE = "Replicate rejected the API token: check REPLICATE_API_TOKEN"


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_number(value: float) -> int | float:
    # Hosted schemas type duration as an integer; 5.0 would fail validation where 5 passes.
    return int(value) if float(value).is_integer() else value


def _media_mime(data: bytes) -> str:
    """PNG (our last frames), a given start image's JPEG / WebP, or an mp4 (a previous clip)."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return "image/png"


def _output_url(output: Any) -> str | None:
    """Video models answer with a URL, some with a list of URLs: take the first."""
    if isinstance(output, str):
        return output
    if isinstance(output, list | tuple):
        for item in output:
            if isinstance(item, str):
                return item
    return None


def prediction_state(data: Mapping[str, Any]) -> PredictionState:
    """A prediction's JSON (from GET or a webhook body) as a ``PredictionState``.

    The webhook view uses this on a verified body, so completing a scene from a webhook costs no
    extra request to Replicate.
    """
    metrics = data.get("metrics") or {}
    predict_time = metrics.get("predict_time")
    error = data.get("error")
    return PredictionState(
        prediction_id=str(data["id"]),
        status=PredictionStatus(data["status"]),
        error=str(error) if error else None,
        output_url=_output_url(data.get("output")),
        predict_time=float(predict_time) if predict_time is not None else None,
        extra={
            key: data.get(key)
            for key in ("model", "version", "created_at", "started_at", "completed_at")
        },
    )


def _error_text(exc: ReplicateError) -> str:
    return exc.detail or exc.title or f"HTTP {exc.status}"


def _snap(value: float, spec_values: tuple[float, ...] | None, schema_enum: list | None) -> float:
    """The allowed value nearest ``value`` (ties go to the larger)."""
    allowed = [float(v) for v in schema_enum] if schema_enum else list(spec_values or ())
    if not allowed:
        return value
    return min(allowed, key=lambda item: (abs(item - value), -item))


def _clamp(value: float, schema: InputSchema | None, name: str) -> float:
    if schema is None:
        return value
    low, high = schema.bounds(name)
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def _duration_values(request: SceneRequest, spec: ModelSpec, schema: InputSchema | None) -> dict:
    """The duration, or frame count and rate, snapped to what the schema (else registry) allows."""
    values: dict[str, Any] = {}
    if spec.duration_input:
        enum = schema.enum(spec.duration_input) if schema else None
        seconds = _snap(request.duration, spec.allowed_durations, enum)
        values[spec.duration_input] = _json_number(_clamp(seconds, schema, spec.duration_input))
    if spec.frames_input:
        fps = spec.fps_value or request.fps
        frames = _clamp(spec.frames_for(request.duration, fps), schema, spec.frames_input)
        values[spec.frames_input] = int(frames)
        if spec.fps_input:
            values[spec.fps_input] = fps
    return values


def scene_values(
    request: SceneRequest, spec: ModelSpec, schema: InputSchema | None
) -> dict[str, Any]:
    """A scene's model input before images: fixed inputs, prompt, length, resolution, seed."""
    values: dict[str, Any] = dict(spec.fixed_inputs)
    values[spec.prompt_input] = request.prompt
    values.update(_duration_values(request, spec, schema))
    resolution = spec.resolution_for(request.width, request.height)
    if spec.resolution_input and resolution:
        values[spec.resolution_input] = resolution
    if request.seed is not None and takes_seed(spec, schema):
        values[spec.seed_input] = int(request.seed)  # type: ignore[index]
    return values


def _seed_note(request: SceneRequest, spec: ModelSpec, schema: InputSchema | None) -> str:
    if request.seed is None or takes_seed(spec, schema):
        return ""
    return seedless_reason(spec, schema)


def _clip_input(request: SceneRequest, spec: ModelSpec) -> str:
    """The input a previous clip goes on; refused (nothing sent) unless the stored schema declares
    it and the clip is as long as the model takes."""
    if not spec.continues_clip(request.input_schema):
        why = (
            f"no stored schema declares its {spec.clip_input!r} input (run sync_models)"
            if spec.clip_input
            else "it has no clip input"
        )
        raise ProviderError(
            f"model {spec.name} cannot continue a clip: {why}; hand over the previous clip's "
            "last frame as init_image_path instead. Nothing was sent",
            retryable=False,
        )
    try:
        seconds = media.probe(Path(request.init_clip_path)).duration  # type: ignore[arg-type]
    except media.MediaError as exc:
        raise ProviderError(f"cannot read the clip to continue: {exc}", retryable=False) from exc
    if not spec.clip_fits(seconds):
        low, high = spec.clip_seconds  # type: ignore[misc]
        raise ProviderError(
            f"model {spec.name} continues clips of {low:g}-{high:g} s; this one is "
            f"{seconds:.2f} s. Nothing was sent",
            retryable=False,
        )
    return spec.clip_input  # type: ignore[return-value]


def _frame_input(spec: ModelSpec, schema: InputSchema | None) -> str:
    """The first-frame input a start image goes on; refused when the model has none."""
    frame_input = spec.first_frame_input
    if not frame_input or (schema is not None and not schema.declares(frame_input)):
        raise ProviderError(
            f"model {spec.name} has no first-frame image input, so it cannot start from "
            "an image or continue a scene; turn latent reuse off or pick a model that "
            "takes an image",
            retryable=False,
        )
    return frame_input


def _start_input(
    request: SceneRequest, spec: ModelSpec, schema: InputSchema | None
) -> tuple[str, Path] | None:
    """(input name, file) for what the scene starts from: the previous clip on the clip input,
    else an image on the first-frame input (never both: ``SceneRequest`` allows one), or None."""
    if request.init_clip_path is not None:
        return _clip_input(request, spec), Path(request.init_clip_path)
    if request.init_image_path is not None:
        return _frame_input(spec, schema), Path(request.init_image_path)
    return None


def _check_required(spec: ModelSpec, schema: InputSchema | None, api_input: dict) -> None:
    """Refuse, before anything is created (or billed), an input the model would refuse."""
    missing = sorted(n for n in required_inputs(spec, schema) if api_input.get(n) in (None, ""))
    if missing:
        raise ProviderError(
            f"model {spec.name} requires {', '.join(missing)}, which this scene does not give; "
            "nothing was sent",
            retryable=False,
        )


MAYBE_CREATED = (
    "the prediction may have been created anyway, so it was not submitted again (that could bill "
    "twice); check your Replicate dashboard, then regenerate"
)


def _stream_capped(response: httpx.Response, part: Path, url: str, cap: int) -> None:
    """Write the body to ``part`` chunk by chunk (never whole in memory), refusing more than
    ``cap`` bytes: a declared Content-Length over it fails before the first byte is read."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ProviderError(
            f"output {url} is {int(declared)} bytes, over the {cap}-byte cap "
            "(COHERENCE_MAX_OUTPUT_BYTES)",
            retryable=False,
        )
    written = 0
    with part.open("wb") as fh:
        for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
            written += len(chunk)
            if written > cap:
                raise ProviderError(
                    f"output {url} is over the {cap}-byte cap (COHERENCE_MAX_OUTPUT_BYTES)",
                    retryable=False,
                )
            fh.write(chunk)


class ReplicateProvider:
    """The ``Provider`` protocol on Replicate's HTTP API."""

    name = "replicate"

    def __init__(
        self,
        config: ReplicateConfig | None = None,
        *,
        models: ModelRegistry | None = None,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        data_uri_max_bytes: int = DATA_URI_MAX_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        config = config or ReplicateConfig()
        self.api_token = config.api_token or None
        self.base_url = config.base_url or None
        self.max_retries = int(config.max_retries)
        self.backoff_seconds = float(config.backoff_seconds)
        self.max_output_bytes = int(config.max_output_bytes)
        # The models this provider knows (built-in only unless an operator's extras are handed in).
        self.models = models or ModelRegistry()
        self.max_retry_after = max_retry_after
        self.data_uri_max_bytes = data_uri_max_bytes
        self._sleep = sleep
        # Retry-After never reaches ReplicateError (it keeps only the JSON body), so a response
        # hook records it per thread for the retry loop to read.
        self._local = threading.local()
        self.client = replicate.Client(
            api_token=self.api_token,
            base_url=self.base_url,
            timeout=timeout,
            event_hooks={"response": [self._remember_response]},
        )
        self._download_timeout = timeout or httpx.Timeout(10.0, read=120.0)

    # ----------------------------------------------------------------------------------------
    # Provider protocol

    def submit(self, request: SceneRequest) -> Submission:
        spec = self._spec(request.model)
        schema = schema_or_none(request.input_schema)
        api_input, recorded_input, dropped = self._build_input(request, spec, schema)
        _check_required(spec, schema, api_input)
        # The truth about the seed comes from the schema: Replicate drops an undeclared seed
        # without a word, so an accepted create proves nothing.
        seed_applied = request.seed is not None and takes_seed(spec, schema)
        seed_note = _seed_note(request, spec, schema)
        try:
            prediction = self._create(request, spec, api_input)
        except ReplicateError as exc:
            if not (seed_applied and exc.status == 422 and self._rejects_seed(exc, spec)):
                raise self._provider_error(exc, request) from exc
            prediction, seed_note = self._create_without_seed(
                request, spec, api_input, recorded_input, exc
            )
            seed_applied = False
        return Submission(
            prediction_id=prediction.id,
            provider_input=recorded_input,
            seed_applied=seed_applied,
            seed_note=seed_note,
            model_version=prediction.version,
            schema_fingerprint=schema.fingerprint if schema else None,
            dropped_inputs=dropped,
        )

    def _create_without_seed(
        self,
        request: SceneRequest,
        spec: ModelSpec,
        api_input: dict[str, Any],
        recorded_input: dict[str, Any],
        exc: ReplicateError,
    ) -> tuple[Any, str]:
        """Defensive only: a model that still answers 422 to a seed it does not declare (cog
        before 2026-04, or a registry out of date without a stored schema)."""
        reason = _error_text(exc)
        logger.warning("%s rejected seed, retrying without it: %s", spec.name, reason)
        api_input.pop(spec.seed_input, None)  # type: ignore[arg-type]
        recorded_input.pop(spec.seed_input, None)  # type: ignore[arg-type]
        try:
            prediction = self._create(request, spec, api_input)
        except ReplicateError as retry_exc:
            raise self._provider_error(retry_exc, request) from retry_exc
        return prediction, f"model {spec.name} rejected seed: {reason}"

    def fetch_model_schema(self, model: str) -> tuple[str, dict[str, Any]]:
        """(latest version id, OpenAPI schema) from ``GET /v1/models/{owner}/{name}``."""
        try:
            found = self._with_retries(lambda: self.client.models.get(model), idempotent=True)
        except ReplicateError as exc:
            if exc.status == 404:
                raise ProviderError(
                    f"Replicate has no model {model}", retryable=False, status=404
                ) from exc
            raise self._provider_error(exc, None) from exc
        latest = found.latest_version
        if latest is None or not isinstance(latest.openapi_schema, dict):
            raise ProviderError(f"model {model} has no published version with a schema")
        return str(latest.id or ""), latest.openapi_schema

    def _on_prediction(self, prediction_id: str, call: Callable[[], Any]) -> Any:
        """An idempotent call about one prediction; a 404 says plainly which one is unknown."""
        try:
            return self._with_retries(call, idempotent=True)
        except ReplicateError as exc:
            if exc.status == 404:
                raise ProviderError(
                    f"Replicate has no prediction {prediction_id}", retryable=False, status=404
                ) from exc
            raise self._provider_error(exc, None) from exc

    def state_from_webhook(self, payload: Mapping[str, Any]) -> PredictionState:
        try:
            return prediction_state(payload)
        except (KeyError, ValueError) as exc:
            raise ProviderError(f"unreadable prediction in webhook body: {exc}") from exc

    def fetch(self, prediction_id: str) -> PredictionState:
        prediction = self._on_prediction(
            prediction_id, lambda: self.client.predictions.get(prediction_id)
        )
        return prediction_state(
            {
                "id": prediction.id,
                "model": prediction.model,
                "version": prediction.version,
                "status": prediction.status,
                "error": prediction.error,
                "output": prediction.output,
                "metrics": prediction.metrics,
                "created_at": prediction.created_at,
                "started_at": prediction.started_at,
                "completed_at": prediction.completed_at,
            }
        )

    def fetch_output(self, state: PredictionState, dest_dir: Path) -> FetchedOutput:
        if state.status != PredictionStatus.SUCCEEDED:
            raise ProviderError(
                f"prediction {state.prediction_id} has no output: status {state.status}",
                retryable=False,
            )
        if not state.output_url:
            raise ProviderError(
                f"prediction {state.prediction_id} succeeded without an output URL",
                retryable=False,
            )
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / f"{state.prediction_id}.mp4"
        url = state.output_url
        try:
            self._with_retries(lambda: self._download(url, target), idempotent=True)
        except ReplicateError as exc:
            raise ProviderError(
                f"could not download {url}: {_error_text(exc)}", retryable=True, status=exc.status
            ) from exc
        return FetchedOutput(video_path=target)

    def cancel(self, prediction_id: str) -> None:
        self._on_prediction(prediction_id, lambda: self.client.predictions.cancel(prediction_id))

    # ----------------------------------------------------------------------------------------
    # Input mapping

    def build_input(self, request: SceneRequest) -> dict[str, Any]:
        """The input ``submit`` would record for ``request`` (data URIs as sha256 refs)."""
        spec = self._spec(request.model)
        return self._build_input(request, spec, schema_or_none(request.input_schema))[1]

    def _spec(self, model: str) -> ModelSpec:
        try:
            return self.models.get(model)
        except UnknownModelError as exc:
            raise ProviderError(str(exc), retryable=False) from exc

    def _build_input(
        self, request: SceneRequest, spec: ModelSpec, schema: InputSchema | None
    ) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]:
        """(what we send, what we record, what the schema made us leave out).

        Sent and recorded differ only where a file becomes a sha256 ref. With a stored schema only
        the inputs it declares are sent, so the recipe is exactly what the model sees.
        """
        if request.init_latent_path is not None:
            raise ProviderError(
                f"model {spec.name} cannot start from a latent; pass the previous clip's last "
                "frame as init_image_path",
                retryable=False,
            )
        api_input = scene_values(request, spec, schema)
        dropped: tuple[str, ...] = ()
        if schema is not None:
            dropped = tuple(sorted(name for name in api_input if not schema.declares(name)))
            api_input = {k: v for k, v in api_input.items() if schema.declares(k)}
        recorded = dict(api_input)
        start = _start_input(request, spec, schema)
        if start is not None:
            name, path = start
            value, digest = self._file_input(path)
            api_input[name] = value
            recorded[name] = f"sha256:{digest}"
        return api_input, recorded, dropped

    def _file_input(self, path: Path) -> tuple[str, str]:
        """A conditioning frame or clip as a data URI (small) or an uploaded file's URL (large)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ProviderError(
                f"cannot read conditioning file {path}: {exc}", retryable=False
            ) from exc
        digest = _sha256_bytes(data)
        encoded = base64.b64encode(data).decode("ascii")
        mime = _media_mime(data)
        if len(encoded) <= self.data_uri_max_bytes:
            return f"data:{mime};base64,{encoded}", digest

        def upload() -> Any:
            with path.open("rb") as fh:
                return self.client.files.create(fh, filename=path.name, content_type=mime)

        try:
            uploaded = self._with_retries(upload, idempotent=False)
        except ReplicateError as exc:
            raise self._provider_error(exc, None) from exc
        return uploaded.urls["get"], digest

    # ----------------------------------------------------------------------------------------
    # HTTP plumbing

    def _create(self, request: SceneRequest, spec: ModelSpec, api_input: dict[str, Any]) -> Any:
        """Create by model name; by version only for a community model pinned in the registry.

        Never with a version a prediction reported: official models report "hidden", which the
        API refuses (422 "Invalid version or not permitted").
        """
        params: dict[str, Any] = {"input": api_input}
        if request.webhook_url:
            params["webhook"] = request.webhook_url
            params["webhook_events_filter"] = ["completed"]
        if spec.version:
            params["version"] = spec.version
        else:
            params["model"] = spec.name
        try:
            return self._with_retries(
                lambda: self.client.predictions.create(**params), idempotent=False
            )
        except ValueError as exc:  # the client refuses a malformed model reference
            raise ProviderError(str(exc), retryable=False) from exc

    def _remember_response(self, response: httpx.Response) -> None:
        self._local.retry_after = response.headers.get("Retry-After")

    def _retry_after(self, exc: ReplicateError) -> float | None:
        header = getattr(self._local, "retry_after", None)
        if header:
            try:
                return float(header)
            except ValueError:
                pass  # an HTTP date; fall back to the body
        match = _RETRY_IN_DETAIL.search(exc.detail or "")
        return float(match.group(1)) if match else None

    def _backoff(self, attempt: int) -> float:
        base = self.backoff_seconds * (2**attempt)
        return min(base * (1 + random.uniform(0, 0.25)), MAX_BACKOFF_SECONDS)

    def _with_retries(self, call: Callable[[], T], *, idempotent: bool) -> T:
        """Run ``call`` with bounded retries on 429, 5xx and network errors.

        ``idempotent=False`` (creating a prediction, uploading) retries network errors only when
        the request cannot have reached the server.
        """
        attempt = 0
        while True:
            self._local.retry_after = None
            try:
                return call()
            except ReplicateError as exc:
                status = exc.status or 0
                if attempt >= self.max_retries or not (status == 429 or status >= 500):
                    raise
                if status == 504 and not idempotent:
                    # A gateway timeout may hide a create that went through: never bill twice.
                    raise ProviderError(
                        f"Replicate answered 504 to a create; {MAYBE_CREATED}", retryable=False
                    ) from exc
                if status == 429:
                    wait = self._retry_after(exc)
                    wait = self._backoff(attempt) if wait is None else wait
                    wait = min(wait, self.max_retry_after)
                else:
                    wait = self._backoff(attempt)
                logger.info("Replicate answered %s, retrying in %.2fs", status, wait)
            except httpx.TransportError as exc:
                may_have_arrived = not isinstance(exc, _NOT_SENT_ERRORS)
                if may_have_arrived and not idempotent:
                    # Resubmitting could create (and bill) a second prediction: fail instead.
                    raise ProviderError(
                        f"network error talking to Replicate: {exc!r}; {MAYBE_CREATED}",
                        retryable=False,
                    ) from exc
                if attempt >= self.max_retries:
                    raise ProviderError(
                        f"network error talking to Replicate: {exc!r}", retryable=True
                    ) from exc
                wait = self._backoff(attempt)
                logger.info("network error talking to Replicate (%r), retrying", exc)
            attempt += 1
            self._sleep(wait)

    def _download(self, url: str, target: Path) -> None:
        # No Authorization header: output URLs are public (replicate.delivery), and sending our
        # token to another host would leak it.
        part = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with httpx.stream(
                "GET", url, timeout=self._download_timeout, follow_redirects=True
            ) as response:
                if response.status_code in (404, 410):
                    raise ProviderError(
                        f"output {url} is gone (HTTP {response.status_code}); Replicate deletes "
                        "API prediction outputs after about an hour",
                        retryable=False,
                        status=response.status_code,
                    )
                if response.status_code >= 500:
                    raise ReplicateError(
                        title="output download failed",
                        status=response.status_code,
                        detail=f"GET {url} answered {response.status_code}",
                    )
                if response.status_code != 200:
                    raise ProviderError(
                        f"output download {url} answered HTTP {response.status_code}",
                        retryable=False,
                        status=response.status_code,
                    )
                _stream_capped(response, part, url, self.max_output_bytes)
            with part.open("rb") as fh:
                head = fh.read(12)
            if len(head) < 8 or head[4:8] != b"ftyp":
                raise ProviderError(f"output {url} is not an mp4 (no ftyp box)", retryable=False)
            part.replace(target)
        except ReplicateError as exc:
            if exc.status and exc.status >= 500:
                raise
            raise ProviderError(_error_text(exc), retryable=False, status=exc.status) from exc
        finally:
            part.unlink(missing_ok=True)

    # ----------------------------------------------------------------------------------------
    # Errors

    @staticmethod
    def _rejects_seed(exc: ReplicateError, spec: ModelSpec) -> bool:
        detail = exc.detail or ""
        if not spec.seed_input:
            return False
        return re.search(rf"\b{re.escape(spec.seed_input)}\b", detail) is not None

    @staticmethod
    def _provider_error(exc: ReplicateError, request: SceneRequest | None) -> ProviderError:
        status = exc.status or 0
        detail = _error_text(exc)
        if status == 401:
            return ProviderError(AUTH_MESSAGE, retryable=False, status=401)
        if status == 404 and request is not None:
            return ProviderError(
                f"Replicate does not know model {request.model!r} ({detail}); check the model "
                "name or COHERENCE_EXTRA_MODELS",
                retryable=False,
                status=404,
            )
        if status == 429 or status >= 500:
            return ProviderError(
                f"Replicate is unavailable after retries: HTTP {status} {detail}",
                retryable=True,
                status=status,
            )
        return ProviderError(
            f"Replicate refused the request: {detail}", retryable=False, status=status
        )
