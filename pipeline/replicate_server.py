"""A Replicate-compatible HTTP server for loopback use: tests and offline development.

It speaks the part of Replicate's HTTP API the official client uses — create (by model or by
version), get, cancel, model lookup, file upload, the default webhook secret — with the same
prediction JSON, the same error bodies and Standard Webhooks signatures, and renders real mp4
outputs with ``pipeline.localmodel``. Switches inject what a hosted API does to you (latency, 5xx
bursts, 429 with Retry-After, failed predictions, a schema without ``seed``); counters record every
request per endpoint and per prediction so tests can assert how many predictions a scene cost and
how many HTTP requests a polling loop spends compared with a webhook.

Inputs are validated per model from ``pipeline.providers.registry``: an input the model's schema
does not list is answered with 422 ``Additional property X is not allowed``, as Replicate does.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import hashlib
import hmac
import io
import json
import logging
import random
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from pipeline.providers.registry import ModelSpec
from pipeline.webhooks import generate_webhook_secret, sign_webhook

logger = logging.getLogger("coherence.replicate_server")

JSON = dict[str, Any]
Latency = float | tuple[float, float]
TagFn = Callable[[str, Mapping[str, Any]], str]

DEFAULT_TOKEN = "r8_loopback_token"
DEFAULT_FAIL_MESSAGE = "CUDA out of memory (injected failure)"
MAX_BODY_BYTES = 150 * 1024 * 1024
WEBHOOK_ATTEMPTS = 3

ERROR_UNAUTHENTICATED = {
    "title": "Unauthenticated",
    "detail": "You did not pass an authentication token",
    "status": 401,
}
ERROR_INVALID_TOKEN = {
    "title": "Unauthenticated",
    "detail": "You did not pass a valid authentication token",
    "status": 401,
}
ERROR_NOT_FOUND = {"detail": "Not found.", "status": 404}

_MODEL_PATH = re.compile(r"^/v1/models/([^/]+)/([^/]+)$")
_MODEL_PREDICTIONS_PATH = re.compile(r"^/v1/models/([^/]+)/([^/]+)/predictions$")
_PREDICTION_PATH = re.compile(r"^/v1/predictions/([^/]+)$")
_CANCEL_PATH = re.compile(r"^/v1/predictions/([^/]+)/cancel$")
_FILE_PATH = re.compile(r"^/v1/files/([^/]+)$")
_OUTPUT_PATH = re.compile(r"^/files/([^/]+)/([^/]+)$")

TERMINAL = frozenset({"succeeded", "failed", "canceled"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _new_id() -> str:
    # Replicate ids are 26 lowercase base32 characters.
    return base64.b32encode(uuid.uuid4().bytes).decode("ascii").lower().rstrip("=")[:26]


def version_id(model: str) -> str:
    """The loopback server's (stable) latest version id for ``model``."""
    return hashlib.sha256(f"loopback:{model}".encode()).hexdigest()


@dataclass
class WebhookDelivery:
    prediction_id: str
    url: str
    event: str
    webhook_id: str
    attempt: int
    status_code: int | None
    error: str | None = None


@dataclass
class _Prediction:
    data: JSON
    spec: ModelSpec
    webhook: str | None
    events: frozenset[str]
    fail_with: str | None
    output_path: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(payload).encode(), headers or {})


def _validation_error(errors: list[tuple[str, str, str]]) -> _Response:
    """422 as Replicate words it: one "- field: description" line per problem."""
    return _json_response(
        422,
        {
            "title": "Input validation failed",
            "status": 422,
            "detail": "\n".join(f"- {fld}: {description}" for _, fld, description in errors),
            "invalid_fields": [
                {"type": kind, "field": fld, "description": description}
                for kind, fld, description in errors
            ],
        },
    )


class ReplicateServer:
    """The loopback server. ``start()`` binds 127.0.0.1 (port 0 = any free port).

    Switches are plain attributes, safe to set from any thread at any time (or through
    ``configure``); the random draws behind them come from one ``random.Random(rng_seed)`` under a
    lock, so a run with the same seed and the same request order injects the same faults.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_token: str = DEFAULT_TOKEN,
        webhook_secret: str | None = None,
        latency: Latency = 0.05,
        error_rate_5xx: float = 0.0,
        rate_429: float = 0.0,
        retry_after: int = 1,
        fail_rate: float = 0.0,
        fail_next: int = 0,
        fail_message: str = DEFAULT_FAIL_MESSAGE,
        reject_seed_models: Iterable[str] = (),
        list_output_models: Iterable[str] = (),
        rng_seed: int | None = 0,
        render_width: int = 512,
        render_height: int = 288,
        render_fps: int = 24,
        max_render_seconds: float | None = None,
        output_dir: Path | None = None,
        models: Mapping[str, ModelSpec] | None = None,
        tag_fn: TagFn | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.api_token = api_token
        self.webhook_secret = webhook_secret or generate_webhook_secret()
        # Switches.
        self.latency: Latency = latency
        self.error_rate_5xx = error_rate_5xx
        self.rate_429 = rate_429
        self.retry_after = retry_after
        self.fail_rate = fail_rate
        self.fail_next = fail_next
        self.fail_message = fail_message
        self.reject_seed_models: set[str] = set(reject_seed_models)
        self.list_output_models: set[str] = set(list_output_models)
        self.burst_5xx = 0  # the next N API requests answer 5xx, whatever error_rate_5xx says
        self.burst_429 = 0  # the next N API requests answer 429
        # Rendering.
        self.render_width = render_width
        self.render_height = render_height
        self.render_fps = render_fps
        self.max_render_seconds = max_render_seconds
        self.tag_fn = tag_fn

        self._models = dict(models) if models is not None else None
        self._rng = random.Random(rng_seed)
        self._lock = threading.RLock()
        self._predictions: dict[str, _Prediction] = {}
        self._files: dict[str, tuple[JSON, bytes]] = {}
        self._own_output_dir = output_dir is None
        self._output_dir = Path(output_dir) if output_dir is not None else None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

        # Counters.
        self.requests_by_endpoint: Counter[str] = Counter()
        self.requests_by_prediction: Counter[str] = Counter()
        self.created_by_model_prompt: Counter[tuple[str, str]] = Counter()
        self.created_by_tag: Counter[str] = Counter()
        self.responses_by_status: Counter[int] = Counter()
        self.webhook_deliveries: list[WebhookDelivery] = []

    # ----------------------------------------------------------------------------------------
    # Lifecycle

    def start(self) -> ReplicateServer:
        if self._httpd is not None:
            return self
        if self._output_dir is None:
            self._output_dir = Path(tempfile.mkdtemp(prefix="replicate-loopback-"))
        self._output_dir.mkdir(parents=True, exist_ok=True)
        handler = type("Handler", (_Handler,), {"app": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="replicate-loopback",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        with self._lock:
            predictions = list(self._predictions.values())
        for prediction in predictions:
            prediction.cancel.set()
        for prediction in predictions:
            if prediction.thread is not None:
                prediction.thread.join(timeout=10)
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        if self._own_output_dir and self._output_dir is not None:
            shutil.rmtree(self._output_dir, ignore_errors=True)
            self._output_dir = None

    def __enter__(self) -> ReplicateServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def configure(self, **switches: Any) -> None:
        """Set several switches at once (unknown names are an error, not silently ignored)."""
        with self._lock:
            for name, value in switches.items():
                if name.startswith("_") or not hasattr(self, name):
                    raise AttributeError(f"no switch named {name!r}")
                setattr(self, name, value)

    # ----------------------------------------------------------------------------------------
    # Inspection helpers for tests

    def prediction(self, prediction_id: str) -> JSON:
        with self._lock:
            return json.loads(json.dumps(self._predictions[prediction_id].data))

    def prediction_ids(self) -> list[str]:
        with self._lock:
            return list(self._predictions)

    def wait_for(self, prediction_id: str, timeout: float = 30.0) -> JSON:
        """Block until the prediction is terminal (without making HTTP requests)."""
        with self._lock:
            prediction = self._predictions[prediction_id]
        if not prediction.done.wait(timeout):
            raise TimeoutError(f"prediction {prediction_id} still running after {timeout}s")
        return self.prediction(prediction_id)

    def wait_for_webhooks(self, count: int, timeout: float = 30.0) -> list[WebhookDelivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.webhook_deliveries) >= count:
                    return list(self.webhook_deliveries)
            time.sleep(0.01)
        raise TimeoutError(f"fewer than {count} webhook deliveries after {timeout}s")

    def reset_counters(self) -> None:
        with self._lock:
            self.requests_by_endpoint.clear()
            self.requests_by_prediction.clear()
            self.created_by_model_prompt.clear()
            self.created_by_tag.clear()
            self.responses_by_status.clear()
            self.webhook_deliveries.clear()

    # ----------------------------------------------------------------------------------------
    # Models

    def models(self) -> Mapping[str, ModelSpec]:
        if self._models is not None:
            return self._models
        from pipeline.providers.registry import all_models

        return all_models()

    def add_model(self, spec: ModelSpec) -> None:
        """Serve ``spec`` (or replace the server's copy of that model's schema)."""
        with self._lock:
            if self._models is None:
                self._models = dict(self.models())
            self._models[spec.name] = spec

    def _model_for_version(self, version: str) -> ModelSpec | None:
        for spec in self.models().values():
            if version_id(spec.name) == version:
                return spec
        return None

    def _model_json(self, spec: ModelSpec) -> JSON:
        owner, name = spec.name.split("/", 1)
        properties = {input_name: {"title": input_name} for input_name in sorted(spec.input_names)}
        return {
            "url": f"https://replicate.com/{spec.name}",
            "owner": owner,
            "name": name,
            "description": "served by the Coherence loopback server",
            "visibility": "public",
            "github_url": None,
            "paper_url": None,
            "license_url": None,
            "run_count": 0,
            "cover_image_url": None,
            "default_example": None,
            "latest_version": {
                "id": version_id(spec.name),
                "created_at": "2025-01-01T00:00:00.000000Z",
                "cog_version": "0.9.0",
                "openapi_schema": {
                    "components": {
                        "schemas": {
                            "Input": {
                                "type": "object",
                                "properties": properties,
                                "additionalProperties": False,
                            }
                        }
                    }
                },
            },
        }

    # ----------------------------------------------------------------------------------------
    # Request handling

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> _Response:
        path = path.split("?", 1)[0]
        endpoint, prediction_id = self._classify(method, path)
        with self._lock:
            self.requests_by_endpoint[endpoint] += 1
            if prediction_id:
                self.requests_by_prediction[prediction_id] += 1

        if path.startswith("/files/"):
            return self._serve_output(path)

        response = self._check_auth(headers) or self._inject_fault()
        if response is not None:
            return response
        try:
            return self._route(method, path, headers, body)
        except Exception as exc:
            logger.exception("loopback server failed on %s %s", method, path)
            return _json_response(
                500, {"title": "Internal Server Error", "detail": str(exc), "status": 500}
            )

    @staticmethod
    def _classify(method: str, path: str) -> tuple[str, str | None]:
        if match := _CANCEL_PATH.match(path):
            return f"{method} /v1/predictions/{{id}}/cancel", match.group(1)
        if match := _PREDICTION_PATH.match(path):
            return f"{method} /v1/predictions/{{id}}", match.group(1)
        if _MODEL_PREDICTIONS_PATH.match(path):
            return f"{method} /v1/models/{{owner}}/{{name}}/predictions", None
        if _MODEL_PATH.match(path):
            return f"{method} /v1/models/{{owner}}/{{name}}", None
        if _FILE_PATH.match(path):
            return f"{method} /v1/files/{{id}}", None
        if match := _OUTPUT_PATH.match(path):
            return f"{method} /files/{{id}}/{{name}}", match.group(1)
        return f"{method} {path}", None

    def _check_auth(self, headers: Mapping[str, str]) -> _Response | None:
        lowered = {key.lower(): value for key, value in headers.items()}
        authorization = lowered.get("authorization", "")
        if not authorization:
            return _json_response(401, ERROR_UNAUTHENTICATED)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not hmac.compare_digest(
            token.strip().encode(), self.api_token.encode()
        ):
            return _json_response(401, ERROR_INVALID_TOKEN)
        return None

    def _inject_fault(self) -> _Response | None:
        with self._lock:
            throttle = self.burst_429 > 0 or (
                self.rate_429 > 0 and self._rng.random() < self.rate_429
            )
            if throttle:
                self.burst_429 = max(self.burst_429 - 1, 0)
                seconds = self.retry_after
                noun = "second" if seconds == 1 else "seconds"
                return _json_response(
                    429,
                    {
                        "title": "Request was throttled.",
                        "detail": f"Request was throttled. Expected available in {seconds} {noun}.",
                        "status": 429,
                    },
                    {"Retry-After": str(seconds)},
                )
            broken = self.burst_5xx > 0 or (
                self.error_rate_5xx > 0 and self._rng.random() < self.error_rate_5xx
            )
            if broken:
                self.burst_5xx = max(self.burst_5xx - 1, 0)
                # 500 and 502, not 503/504: those the client retries on its own for GETs and the
                # injected fault would be invisible to the code under test.
                status = self._rng.choice((500, 502))
                return _json_response(
                    status,
                    {
                        "title": "Internal Server Error" if status == 500 else "Bad Gateway",
                        "detail": "injected server error",
                        "status": status,
                    },
                )
        return None

    def _route(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> _Response:
        if method == "POST" and (match := _MODEL_PREDICTIONS_PATH.match(path)):
            spec = self.models().get(f"{match.group(1)}/{match.group(2)}")
            if spec is None:
                return _json_response(404, ERROR_NOT_FOUND)
            return self._create(spec, body)
        if method == "POST" and path == "/v1/predictions":
            payload = self._parse_json(body)
            if isinstance(payload, _Response):
                return payload
            spec = self._model_for_version(str(payload.get("version", "")))
            if spec is None:
                return _json_response(
                    422,
                    {
                        "title": "Invalid version or not permitted",
                        "detail": "The specified version does not exist (or perhaps you don't "
                        "have permission to use it?)",
                        "status": 422,
                    },
                )
            return self._create(spec, body)
        if method == "GET" and (match := _PREDICTION_PATH.match(path)):
            with self._lock:
                prediction = self._predictions.get(match.group(1))
                if prediction is None:
                    return _json_response(404, ERROR_NOT_FOUND)
                return _json_response(200, prediction.data)
        if method == "POST" and (match := _CANCEL_PATH.match(path)):
            return self._cancel(match.group(1))
        if method == "GET" and (match := _MODEL_PATH.match(path)):
            spec = self.models().get(f"{match.group(1)}/{match.group(2)}")
            if spec is None:
                return _json_response(404, ERROR_NOT_FOUND)
            return _json_response(200, self._model_json(spec))
        if method == "POST" and path == "/v1/files":
            return self._upload(headers, body)
        if method == "GET" and (match := _FILE_PATH.match(path)):
            with self._lock:
                stored = self._files.get(match.group(1))
            return (
                _json_response(200, stored[0]) if stored else _json_response(404, ERROR_NOT_FOUND)
            )
        if method == "GET" and path == "/v1/webhooks/default/secret":
            return _json_response(200, {"key": self.webhook_secret})
        return _json_response(404, ERROR_NOT_FOUND)

    @staticmethod
    def _parse_json(body: bytes) -> JSON | _Response:
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return _json_response(
                400, {"title": "Bad Request", "detail": "Invalid JSON body", "status": 400}
            )
        if not isinstance(payload, dict):
            return _json_response(
                400, {"title": "Bad Request", "detail": "Body must be an object", "status": 400}
            )
        return payload

    # ----------------------------------------------------------------------------------------
    # Predictions

    def _validate_input(self, spec: ModelSpec, model_input: Any) -> list[tuple[str, str, str]]:
        if not isinstance(model_input, dict):
            return [("invalid_type", "input", "Invalid type. Expected: object")]
        allowed = set(spec.input_names)
        if spec.name in self.reject_seed_models:
            allowed.discard("seed")
        errors: list[tuple[str, str, str]] = [
            (
                "additional_property_not_allowed",
                "input",
                f"Additional property {name} is not allowed",
            )
            for name in model_input
            if name not in allowed
        ]
        if not model_input.get(spec.prompt_input):
            errors.append(("required", "input", f"{spec.prompt_input} is required"))
        for name in (spec.seed_input, spec.frames_input, spec.fps_input):
            value = model_input.get(name) if name else None
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                errors.append(
                    (
                        "invalid_type",
                        f"input.{name}",
                        f"Invalid type. Expected: integer, given: {type(value).__name__}",
                    )
                )
        duration = model_input.get(spec.duration_input) if spec.duration_input else None
        if duration is not None and spec.allowed_durations:
            allowed_values = ", ".join(f"{d:g}" for d in spec.allowed_durations)
            if duration not in spec.allowed_durations:
                errors.append(
                    (
                        "enum",
                        f"input.{spec.duration_input}",
                        f"{spec.duration_input} must be one of the following: {allowed_values}",
                    )
                )
        resolution = model_input.get(spec.resolution_input) if spec.resolution_input else None
        if (
            resolution is not None
            and spec.allowed_resolutions
            and resolution not in spec.allowed_resolutions
        ):
            errors.append(
                (
                    "enum",
                    f"input.{spec.resolution_input}",
                    f"{spec.resolution_input} must be one of the following: "
                    + ", ".join(spec.allowed_resolutions),
                )
            )
        frames = model_input.get(spec.frames_input) if spec.frames_input else None
        if isinstance(frames, int) and spec.frames_range:
            low, high = spec.frames_range
            if frames < low:
                errors.append(("number_gte", f"input.{spec.frames_input}", f"Must be >= {low}"))
            if frames > high:
                errors.append(("number_lte", f"input.{spec.frames_input}", f"Must be <= {high}"))
        return errors

    def _create(self, spec: ModelSpec, body: bytes) -> _Response:
        payload = self._parse_json(body)
        if isinstance(payload, _Response):
            return payload
        model_input = payload.get("input")
        errors = self._validate_input(spec, model_input)
        if errors:
            return _validation_error(errors)
        webhook = payload.get("webhook") or None
        events_filter = payload.get("webhook_events_filter")
        # Replicate sends every event type when no filter is given; we emit start and completed.
        events = frozenset(events_filter) if events_filter else frozenset({"start", "completed"})

        prediction_id = _new_id()
        base = self.base_url
        with self._lock:
            fail_with: str | None = None
            if self.fail_next > 0:
                self.fail_next -= 1
                fail_with = self.fail_message
            elif self.fail_rate > 0 and self._rng.random() < self.fail_rate:
                fail_with = self.fail_message
            data: JSON = {
                "id": prediction_id,
                "model": spec.name,
                "version": version_id(spec.name),
                "input": model_input,
                "logs": "",
                "output": None,
                "data_removed": False,
                "error": None,
                "status": "starting",
                "created_at": _now(),
                "started_at": None,
                "completed_at": None,
                "urls": {
                    "get": f"{base}/v1/predictions/{prediction_id}",
                    "cancel": f"{base}/v1/predictions/{prediction_id}/cancel",
                    "web": f"https://replicate.com/p/{prediction_id}",
                },
                "metrics": {},
            }
            if webhook:
                data["webhook"] = webhook
                data["webhook_events_filter"] = sorted(events)
            prediction = _Prediction(
                data=data, spec=spec, webhook=webhook, events=events, fail_with=fail_with
            )
            self._predictions[prediction_id] = prediction
            self.requests_by_prediction[prediction_id] += 1  # the create itself
            prompt = str(model_input.get(spec.prompt_input, ""))
            self.created_by_model_prompt[(spec.name, prompt)] += 1
            tag = self.tag_fn(spec.name, model_input) if self.tag_fn else prompt
            self.created_by_tag[tag] += 1
            snapshot = json.loads(json.dumps(data))
        prediction.thread = threading.Thread(
            target=self._run, args=(prediction,), name=f"prediction-{prediction_id}", daemon=True
        )
        prediction.thread.start()
        return _json_response(201, snapshot)

    def _cancel(self, prediction_id: str) -> _Response:
        with self._lock:
            prediction = self._predictions.get(prediction_id)
            if prediction is None:
                return _json_response(404, ERROR_NOT_FOUND)
            finished = self._finish(prediction, "canceled")
            snapshot = json.loads(json.dumps(prediction.data))
        prediction.cancel.set()
        if finished:
            self._send_webhook(prediction, "completed")
        return _json_response(200, snapshot)

    def _draw_latency(self) -> float:
        with self._lock:
            latency = self.latency
            if isinstance(latency, tuple | list):
                return self._rng.uniform(float(latency[0]), float(latency[1]))
            return float(latency)

    def _finish(self, prediction: _Prediction, status: str, **fields: Any) -> bool:
        """Move to a terminal status once; False when it already was terminal. Hold the lock."""
        data = prediction.data
        if data["status"] in TERMINAL:
            return False
        now = _now()
        data.update(fields)
        data["status"] = status
        data["completed_at"] = now
        if data["started_at"] is None:
            data["started_at"] = now
        started = datetime.strptime(data["started_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        completed = datetime.strptime(now, "%Y-%m-%dT%H:%M:%S.%fZ")
        data["metrics"] = {"predict_time": max((completed - started).total_seconds(), 0.0)}
        prediction.done.set()
        return True

    def _log(self, prediction: _Prediction, line: str) -> None:
        with self._lock:
            prediction.data["logs"] += line + "\n"

    def _run(self, prediction: _Prediction) -> None:
        try:
            self._run_inner(prediction)
        except Exception as exc:  # a bug here must still end the prediction
            logger.exception("loopback prediction %s crashed", prediction.data["id"])
            with self._lock:
                finished = self._finish(prediction, "failed", error=f"internal error: {exc}")
            if finished:
                self._send_webhook(prediction, "completed")

    def _run_inner(self, prediction: _Prediction) -> None:
        if prediction.cancel.wait(self._draw_latency()):
            return
        with self._lock:
            if prediction.data["status"] in TERMINAL:
                return
            prediction.data["status"] = "processing"
            prediction.data["started_at"] = _now()
        self._send_webhook(prediction, "start")

        if prediction.fail_with is not None:
            error: str | None = prediction.fail_with
            output: Any = None
        else:
            error, output = self._render(prediction)
        if prediction.cancel.wait(self._draw_latency()):
            return
        with self._lock:
            if error is not None:
                finished = self._finish(prediction, "failed", error=error)
            else:
                finished = self._finish(prediction, "succeeded", output=output)
        if finished:
            self._send_webhook(prediction, "completed")

    def _render_duration(self, spec: ModelSpec, model_input: Mapping[str, Any]) -> float:
        duration: float
        if spec.duration_input and model_input.get(spec.duration_input) is not None:
            duration = float(model_input[spec.duration_input])
        elif spec.frames_input and model_input.get(spec.frames_input) is not None:
            fps = model_input.get(spec.fps_input or "", None) or spec.fps_value or 16
            duration = max(int(model_input[spec.frames_input]) - 1, 1) / float(fps)
        else:
            duration = spec.fixed_duration or 5.0
        if self.max_render_seconds is not None:
            duration = min(duration, self.max_render_seconds)
        return max(duration, 1.0 / self.render_fps)

    def _render(self, prediction: _Prediction) -> tuple[str | None, Any]:
        """Render the output with the local model: (error, output)."""
        from pipeline import localmodel

        spec, model_input = prediction.spec, prediction.data["input"]
        prediction_id = prediction.data["id"]
        seed = model_input.get(spec.seed_input) if spec.seed_input else None
        if seed is None:
            # Cog convention: a blank seed becomes a random one that only the logs mention.
            with self._lock:
                seed = self._rng.randrange(2**16)
        self._log(prediction, f"Using seed: {seed}")
        init_image = None
        if spec.first_frame_input and model_input.get(spec.first_frame_input):
            try:
                init_image = self._read_image(str(model_input[spec.first_frame_input]))
            except ValueError as exc:
                return f"could not read {spec.first_frame_input}: {exc}", None
            self._log(prediction, f"Conditioning on {spec.first_frame_input}")
        request = localmodel.RenderRequest(
            prompt=str(model_input.get(spec.prompt_input, "")),
            seed=int(seed),
            duration=self._render_duration(spec, model_input),
            fps=self.render_fps,
            width=self.render_width,
            height=self.render_height,
            init_image=init_image,
        )
        assert self._output_dir is not None
        try:
            result = localmodel.render(request, self._output_dir / prediction_id, "output")
        except ValueError as exc:
            return str(exc), None
        prediction.output_path = result.video.path
        url = f"{self.base_url}/files/{prediction_id}/output.mp4"
        self._log(prediction, f"Rendered {result.frame_count} frames")
        return None, ([url] if spec.name in self.list_output_models else url)

    def _read_image(self, value: str) -> Any:
        """A first-frame input (data URI, uploaded file URL or http URL) as an HxWx3 uint8 array."""
        import numpy as np
        from PIL import Image, UnidentifiedImageError

        data: bytes
        if value.startswith("data:"):
            header, _, encoded = value.partition(",")
            if ";base64" not in header:
                raise ValueError("only base64 data URIs are supported")
            try:
                data = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"bad base64: {exc}") from exc
        elif value.startswith(f"{self.base_url}/v1/files/"):
            file_id = value.rstrip("/").split("/")[-1]
            with self._lock:
                stored = self._files.get(file_id)
            if stored is None:
                raise ValueError(f"no uploaded file {file_id}")
            data = stored[1]
        elif value.startswith(("http://", "https://")):
            try:
                response = httpx.get(value, timeout=10, follow_redirects=True)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise ValueError(f"could not fetch {value}: {exc}") from exc
            data = response.content
        else:
            raise ValueError("expected a data URI or an http(s) URL")
        try:
            with Image.open(io.BytesIO(data)) as image:
                return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"not an image: {exc}") from exc

    def _serve_output(self, path: str) -> _Response:
        match = _OUTPUT_PATH.match(path)
        if not match:
            return _json_response(404, ERROR_NOT_FOUND)
        with self._lock:
            prediction = self._predictions.get(match.group(1))
            output_path = prediction.output_path if prediction else None
        if output_path is None or not output_path.exists():
            return _json_response(404, ERROR_NOT_FOUND)
        return _Response(200, output_path.read_bytes(), content_type="video/mp4")

    # ----------------------------------------------------------------------------------------
    # Files

    def _upload(self, headers: Mapping[str, str], body: bytes) -> _Response:
        lowered = {key.lower(): value for key, value in headers.items()}
        content_type = lowered.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return _json_response(
                400,
                {"title": "Bad Request", "detail": "expected multipart/form-data", "status": 400},
            )
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") != "content":
                continue
            data = part.get_payload(decode=True) or b""
            file_id = _new_id()
            info: JSON = {
                "id": file_id,
                "name": part.get_filename() or "file",
                "content_type": part.get_content_type(),
                "size": len(data),
                "etag": hashlib.md5(data, usedforsecurity=False).hexdigest(),
                "checksums": {"sha256": hashlib.sha256(data).hexdigest()},
                "metadata": {},
                "created_at": _now(),
                "expires_at": None,
                "urls": {"get": f"{self.base_url}/v1/files/{file_id}"},
            }
            with self._lock:
                self._files[file_id] = (info, data)
            return _json_response(201, info)
        return _json_response(
            400, {"title": "Bad Request", "detail": "missing 'content' part", "status": 400}
        )

    # ----------------------------------------------------------------------------------------
    # Webhooks

    def _send_webhook(self, prediction: _Prediction, event: str) -> None:
        if not prediction.webhook or event not in prediction.events:
            return
        with self._lock:
            body = json.dumps(prediction.data).encode()
        threading.Thread(
            target=self._deliver,
            args=(prediction.data["id"], prediction.webhook, event, body),
            name=f"webhook-{prediction.data['id']}-{event}",
            daemon=True,
        ).start()

    def _deliver(self, prediction_id: str, url: str, event: str, body: bytes) -> None:
        webhook_id = f"msg_{uuid.uuid4().hex}"
        for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
            # Each attempt is signed afresh with its own timestamp, the same id (so receivers can
            # deduplicate), as Standard Webhooks senders do.
            headers = sign_webhook(
                secret=self.webhook_secret,
                webhook_id=webhook_id,
                timestamp=int(time.time()),
                body=body,
            )
            headers["Content-Type"] = "application/json"
            status_code: int | None = None
            error: str | None = None
            try:
                status_code = httpx.post(url, content=body, headers=headers, timeout=10).status_code
            except httpx.HTTPError as exc:
                error = repr(exc)
            with self._lock:
                self.webhook_deliveries.append(
                    WebhookDelivery(
                        prediction_id, url, event, webhook_id, attempt, status_code, error
                    )
                )
            if status_code is not None and 200 <= status_code < 300:
                return
            time.sleep(0.1 * attempt)


class _Handler(BaseHTTPRequestHandler):
    app: ReplicateServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without TCP_NODELAY, Nagle plus delayed ACKs
        # add ~40 ms to every response on a keep-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(_json_response(413, {"detail": "Request too large", "status": 413}))
            return
        body = self.rfile.read(length) if length else b""
        response = self.app.handle(method, self.path, dict(self.headers.items()), body)
        self._send(response)

    def _send(self, response: _Response) -> None:
        with self.app._lock:
            self.app.responses_by_status[response.status] += 1
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


# The brief's other name for it.
FakeReplicate = ReplicateServer
