"""A Replicate-compatible HTTP server for loopback use: tests and offline development.

A test double, no kinder than the real API. It speaks the part of Replicate's HTTP API the official
client uses (create by model or by version, get, cancel, model lookup with its input schema, file
upload, the default webhook secret) with the same prediction JSON, error bodies and Standard
Webhooks signatures, and renders real mp4 outputs with ``pipeline.localmodel``.

It behaves as /work/shared/reference/replicate.md says Replicate does, from each model's published
schema (``tests.doubles.model_schemas``), never from what our code sends:
- official models report ``"version": "hidden"``; sending that (or any id that is not a runnable
  community version) back as ``version`` is 422 "Invalid version or not permitted";
- inputs a model does not declare are dropped without error (cog, 2026-04), only counted here;
- a missing required input, a wrong type, a value outside an enum or range is 422 with
  Replicate's body;
- ``GET /v1/models/{owner}/{name}`` serves the model's OpenAPI schema.

Switches inject what a hosted API does to you (latency, 5xx bursts, 429 with Retry-After, failed
predictions, a schema without ``seed``); counters record every request per endpoint and per
prediction so tests can assert how many predictions a scene cost.

Run it as a dev tool: ``python -m tests.doubles.replicate_server --port 8765`` (see ``main``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.parser
import email.policy
import hashlib
import hmac
import io
import json
import logging
import os
import random
import re
import shutil
import socket
import sys
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

from pipeline.providers.replicate_webhooks import generate_webhook_secret, sign_webhook
from tests.doubles.model_schemas import ServedModel, served_models, without_input

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
_CREATE_BY_VERSION_PATH = re.compile(r"^/v1/predictions$")
_FILES_PATH = re.compile(r"^/v1/files$")
_SECRET_PATH = re.compile(r"^/v1/webhooks/default/secret$")

TERMINAL = frozenset({"succeeded", "failed", "canceled"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _new_id() -> str:
    # Replicate ids are 26 lowercase base32 characters.
    return base64.b32encode(uuid.uuid4().bytes).decode("ascii").lower().rstrip("=")[:26]


HIDDEN_VERSION = "hidden"  # what predictions of official models report as their version

ERROR_INVALID_VERSION = {
    "title": "Invalid version or not permitted",
    "detail": "The specified version does not exist (or perhaps you don't have permission to "
    "use it?)",
    "status": 422,
}


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
    spec: ServedModel
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


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
_TYPE_NAMES = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    list: "array",
    dict: "object",
}


def _resolve(prop: JSON, schemas: JSON) -> JSON:
    """A property with its ``allOf`` $refs (cog's enums) merged in."""
    merged = {key: value for key, value in prop.items() if key != "allOf"}
    for part in prop.get("allOf", []):
        ref = str(part.get("$ref", "")).rsplit("/", 1)[-1]
        merged = {**schemas.get(ref, {}), **merged}
    return merged


def _type_ok(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()  # JSON Schema: 5.0 is an integer
    return isinstance(value, _JSON_TYPES.get(kind, (object,)))


def _check_value(name: str, value: Any, prop: JSON) -> list[tuple[str, str, str]]:
    """Type, enum and range errors for one input, worded as Replicate's validator words them."""
    field_name = f"input.{name}"
    kind = prop.get("type")
    if kind and not _type_ok(kind, value):
        given = _TYPE_NAMES.get(type(value), type(value).__name__)
        return [("invalid_type", field_name, f"Invalid type. Expected: {kind}, given: {given}")]
    if "enum" in prop and value not in prop["enum"]:
        allowed = ", ".join(str(item) for item in prop["enum"])
        return [("enum", field_name, f"{name} must be one of the following: {allowed}")]
    errors = []
    if "minimum" in prop and isinstance(value, int | float) and value < prop["minimum"]:
        errors.append(
            ("number_gte", field_name, f"Must be greater than or equal to {prop['minimum']}")
        )
    if "maximum" in prop and isinstance(value, int | float) and value > prop["maximum"]:
        errors.append(
            ("number_lte", field_name, f"Must be less than or equal to {prop['maximum']}")
        )
    return errors


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
        seedless_models: Iterable[str] = (),
        strict_models: Iterable[str] = (),
        list_output_models: Iterable[str] = (),
        rng_seed: int | None = 0,
        render_width: int = 512,
        render_height: int = 288,
        render_fps: int | None = None,
        max_render_seconds: float | None = None,
        output_dir: Path | None = None,
        models: Mapping[str, ServedModel] | None = None,
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
        # Models served from a schema without `seed` (as a new version may be): a seed sent to
        # them is dropped silently, as Replicate does.
        self.seedless_models: set[str] = set(seedless_models)
        # Models that answer 422 "Additional property X is not allowed" to undeclared inputs:
        # cog's behaviour before 2026-04, kept only to exercise the client's defensive retry.
        self.strict_models: set[str] = set(strict_models)
        self.list_output_models: set[str] = set(list_output_models)
        self.burst_5xx = 0  # the next N API requests answer 5xx, whatever error_rate_5xx says
        self.burst_429 = 0  # the next N API requests answer 429
        # Rendering.
        self.render_width = render_width
        self.render_height = render_height
        self.render_fps = render_fps  # None: each model's own frame rate (minimax 25 fps)
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
        self.dropped_inputs: dict[str, list[str]] = {}  # prediction id -> undeclared inputs
        self._ready = True

    # ----------------------------------------------------------------------------------------
    # Lifecycle

    def __setattr__(self, name: str, value: Any) -> None:
        # A misspelt switch must fail loudly, not leave a test running against the defaults.
        if getattr(self, "_ready", False) and not name.startswith("_") and not hasattr(self, name):
            raise AttributeError(f"no switch named {name!r}")
        super().__setattr__(name, value)

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
            self.dropped_inputs.clear()

    # ----------------------------------------------------------------------------------------
    # Models

    def models(self) -> Mapping[str, ServedModel]:
        with self._lock:
            if self._models is None:
                self._models = served_models()
            return self._models

    def model(self, name: str) -> ServedModel | None:
        """The model as served now (with the ``seedless_models`` switch applied)."""
        served = self.models().get(name)
        if served is not None and name in self.seedless_models and served.seed_input:
            served = without_input(served, served.seed_input)
        return served

    def add_model(self, model: ServedModel) -> None:
        """Serve ``model`` (or replace the server's copy of that model's schema)."""
        with self._lock:
            dict(self.models())  # make sure the defaults are loaded
            assert self._models is not None
            self._models[model.name] = model

    def _model_for_version(self, version: str) -> ServedModel | None:
        """The community model whose version this is; official models cannot be run by id."""
        for served in self.models().values():
            if not served.official and served.version_id == version:
                return self.model(served.name)
        return None

    def _model_json(self, model: ServedModel) -> JSON:
        owner, name = model.name.split("/", 1)
        return {
            "url": f"https://replicate.com/{model.name}",
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
                "id": model.version_id,
                "created_at": "2025-01-01T00:00:00.000000Z",
                "cog_version": "0.16.0",
                "openapi_schema": json.loads(json.dumps(model.openapi_schema)),
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
        routes: list[tuple[str, re.Pattern[str], Callable[..., _Response]]] = [
            ("POST", _MODEL_PREDICTIONS_PATH, lambda m: self._create_by_model(m, body)),
            ("POST", _CREATE_BY_VERSION_PATH, lambda m: self._create_by_version(body)),
            ("GET", _PREDICTION_PATH, lambda m: self._get_prediction(m.group(1))),
            ("POST", _CANCEL_PATH, lambda m: self._cancel(m.group(1))),
            ("GET", _MODEL_PATH, lambda m: self._get_model(m)),
            ("POST", _FILES_PATH, lambda m: self._upload(headers, body)),
            ("GET", _FILE_PATH, lambda m: self._get_file(m.group(1))),
            ("GET", _SECRET_PATH, lambda m: _json_response(200, {"key": self.webhook_secret})),
        ]
        for route_method, pattern, handler in routes:
            if method == route_method and (match := pattern.match(path)):
                return handler(match)
        return _json_response(404, ERROR_NOT_FOUND)

    def _create_by_model(self, match: re.Match[str], body: bytes) -> _Response:
        served = self.model(f"{match.group(1)}/{match.group(2)}")
        return self._create(served, body) if served else _json_response(404, ERROR_NOT_FOUND)

    def _create_by_version(self, body: bytes) -> _Response:
        payload = self._parse_json(body)
        if isinstance(payload, _Response):
            return payload
        served = self._model_for_version(str(payload.get("version", "")))
        if served is None:  # "hidden", an official model's id, or nothing we know
            return _json_response(422, ERROR_INVALID_VERSION)
        return self._create(served, body)

    def _get_prediction(self, prediction_id: str) -> _Response:
        with self._lock:
            prediction = self._predictions.get(prediction_id)
            if prediction is None:
                return _json_response(404, ERROR_NOT_FOUND)
            return _json_response(200, prediction.data)

    def _get_model(self, match: re.Match[str]) -> _Response:
        served = self.model(f"{match.group(1)}/{match.group(2)}")
        if served is None:
            return _json_response(404, ERROR_NOT_FOUND)
        return _json_response(200, self._model_json(served))

    def _get_file(self, file_id: str) -> _Response:
        with self._lock:
            stored = self._files.get(file_id)
        return _json_response(200, stored[0]) if stored else _json_response(404, ERROR_NOT_FOUND)

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

    def _validate_input(
        self, model: ServedModel, model_input: Any
    ) -> tuple[list[tuple[str, str, str]], list[str]]:
        """(errors, undeclared input names) for ``model_input`` against the model's schema."""
        if not isinstance(model_input, dict):
            return [("invalid_type", "input", "Invalid type. Expected: object")], []
        schemas = model.openapi_schema["components"]["schemas"]
        component = schemas["Input"]
        properties: JSON = component.get("properties", {})
        undeclared = sorted(name for name in model_input if name not in properties)
        errors: list[tuple[str, str, str]] = []
        if model.name in self.strict_models:
            errors += [
                (
                    "additional_property_not_allowed",
                    "input",
                    f"Additional property {name} is not allowed",
                )
                for name in undeclared
            ]
        errors += [
            ("required", "input", f"{name} is required")
            for name in component.get("required", [])
            if model_input.get(name) in (None, "")
        ]
        for name, value in model_input.items():
            if name in properties and value is not None:
                errors += _check_value(name, value, _resolve(properties[name], schemas))
        return errors, undeclared

    def _create(self, model: ServedModel, body: bytes) -> _Response:
        payload = self._parse_json(body)
        if isinstance(payload, _Response):
            return payload
        model_input = payload.get("input")
        errors, undeclared = self._validate_input(model, model_input)
        if errors:
            return _validation_error(errors)
        webhook = payload.get("webhook") or None
        events_filter = payload.get("webhook_events_filter")
        # Replicate sends every event type when no filter is given; we emit start and completed.
        events = frozenset(events_filter) if events_filter else frozenset({"start", "completed"})
        prediction_id = _new_id()
        data = self._prediction_json(model, prediction_id, model_input)
        if webhook:
            data["webhook"] = webhook
            data["webhook_events_filter"] = sorted(events)
        with self._lock:
            prediction = _Prediction(
                data=data,
                spec=model,
                webhook=webhook,
                events=events,
                fail_with=self._draw_failure(),
            )
            self._predictions[prediction_id] = prediction
            self.dropped_inputs[prediction_id] = undeclared
            self.requests_by_prediction[prediction_id] += 1  # the create itself
            prompt = str(model_input.get("prompt", ""))
            self.created_by_model_prompt[(model.name, prompt)] += 1
            tag = self.tag_fn(model.name, model_input) if self.tag_fn else prompt
            self.created_by_tag[tag] += 1
            snapshot = json.loads(json.dumps(data))
        prediction.thread = threading.Thread(
            target=self._run, args=(prediction,), name=f"prediction-{prediction_id}", daemon=True
        )
        prediction.thread.start()
        return _json_response(201, snapshot)

    def _draw_failure(self) -> str | None:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_message
            if self.fail_rate > 0 and self._rng.random() < self.fail_rate:
                return self.fail_message
        return None

    def _prediction_json(self, model: ServedModel, prediction_id: str, model_input: JSON) -> JSON:
        base = self.base_url
        return {
            "id": prediction_id,
            "model": model.name,
            # Official models never tell you a runnable version.
            "version": HIDDEN_VERSION if model.official else model.version_id,
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

    def _render_fps(self, model: ServedModel, model_input: Mapping[str, Any]) -> int:
        if self.render_fps is not None:
            return self.render_fps
        asked = model_input.get(model.fps_input) if model.fps_input else None
        return int(asked) if asked else model.render_fps

    def _render_duration(self, model: ServedModel, model_input: Mapping[str, Any]) -> float:
        duration = model.fixed_seconds
        if model.duration_input and model_input.get(model.duration_input) is not None:
            duration = float(model_input[model.duration_input])
        elif model.frames_input:
            fps = model_input.get(model.fps_input or "") or model.render_fps
            frames = model_input.get(model.frames_input) or 81
            duration = max(int(frames) - 1, 1) / float(fps)
        if self.max_render_seconds is not None:
            duration = min(duration, self.max_render_seconds)
        return max(duration, 0.1)

    def _render(self, prediction: _Prediction) -> tuple[str | None, Any]:
        """Render the output with the local model: (error, output)."""
        from pipeline import localmodel

        model = prediction.spec
        # The model only sees the inputs it declares.
        declared = model.openapi_schema["components"]["schemas"]["Input"]["properties"]
        model_input = {k: v for k, v in prediction.data["input"].items() if k in declared}
        prediction_id = prediction.data["id"]
        seed = model_input.get(model.seed_input) if model.seed_input else None
        if seed is None:
            # Cog convention: a blank seed becomes a random one that only the logs mention.
            with self._lock:
                seed = self._rng.randrange(2**16)
        self._log(prediction, f"Using seed: {seed}")
        try:
            init_image = self._start_image(prediction, model, model_input)
        except ValueError as exc:
            return str(exc), None
        request = localmodel.RenderRequest(
            prompt=str(model_input.get("prompt", "")),
            seed=int(seed),
            duration=self._render_duration(model, model_input),
            fps=self._render_fps(model, model_input),
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
        self._log(prediction, f"Rendered {result.frame_count} frames at {request.fps} fps")
        return None, ([url] if model.name in self.list_output_models else url)

    def _start_image(
        self, prediction: _Prediction, model: ServedModel, model_input: Mapping[str, Any]
    ) -> Any:
        """The frame the render starts on: the first-frame input, or the last frame of the clip a
        clip-continuing model was given. ValueError (the prediction fails, as the model's own
        check would) for an unreadable file or a combination the model refuses."""
        frame_input, clip_input = model.first_frame_input, model.clip_input
        frame = model_input.get(frame_input) if frame_input else None
        clip = model_input.get(clip_input) if clip_input else None
        if model.frame_or_clip and bool(frame) == bool(clip):
            raise ValueError(f"give exactly one of {frame_input} or {clip_input}")
        if clip:
            image = self._clip_last_frame(model, str(clip))
            self._log(prediction, f"Continuing {clip_input}")
            return image
        if not frame:
            return None
        try:
            image = self._read_image(str(frame))
        except ValueError as exc:
            raise ValueError(f"could not read {frame_input}: {exc}") from exc
        self._log(prediction, f"Conditioning on {frame_input}")
        return image

    def _clip_last_frame(self, model: ServedModel, value: str) -> Any:
        """A clip input's last frame, after the model's length check on the source clip."""
        from pipeline import media

        assert self._output_dir is not None
        path = self._output_dir / f"clip-{uuid.uuid4().hex}.mp4"
        try:
            path.write_bytes(self._read_bytes(value))
            seconds = media.probe(path).duration
            low, high = model.clip_seconds or (0.0, float("inf"))
            if not low <= seconds <= high:
                raise ValueError(
                    f"{model.clip_input} must be {low:g}-{high:g} s long, got {seconds:.2f} s"
                )
            return media.last_frame(path)
        except media.MediaError as exc:
            raise ValueError(f"could not read {model.clip_input}: {exc}") from exc
        finally:
            path.unlink(missing_ok=True)

    def _read_image(self, value: str) -> Any:
        """A first-frame input (data URI, uploaded file URL or http URL) as an HxWx3 uint8 array."""
        import numpy as np
        from PIL import Image, UnidentifiedImageError

        data = self._read_bytes(value)
        try:
            with Image.open(io.BytesIO(data)) as image:
                return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"not an image: {exc}") from exc

    def _read_bytes(self, value: str) -> bytes:
        """A file input's bytes: a data URI, an uploaded file's URL or an http(s) URL."""
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
        return data

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


# --------------------------------------------------------------------------------------------
# Dev tool: python -m tests.doubles.replicate_server


def mask(secret: str) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    return f"{secret[:4]}...({len(secret)} chars)" if secret else "(unset)"


def _latency(value: str) -> Latency:
    parts = [float(part) for part in value.split(",")]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2 and parts[0] <= parts[1]:
        return (parts[0], parts[1])
    raise argparse.ArgumentTypeError(f"bad latency {value!r}: SECONDS or MIN,MAX")


def _size(value: str) -> tuple[int, int]:
    width, _, height = value.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {value!r}: WIDTHxHEIGHT") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.doubles.replicate_server",
        description="A Replicate-compatible loopback server that renders with the local model.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--latency", type=_latency, default=1.0, help="seconds per lifecycle phase, or MIN,MAX"
    )
    parser.add_argument("--error-rate-5xx", type=float, default=0.0)
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument(
        "--seedless",
        nargs="*",
        default=[],
        metavar="MODEL",
        help="serve these models' schemas without seed",
    )
    parser.add_argument("--render-size", type=_size, default=(512, 288))
    parser.add_argument(
        "--render-fps", type=int, default=None, help="default: each model's own frame rate"
    )
    parser.add_argument("--max-render-seconds", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None, help="seed for the fault RNG")
    parser.add_argument("--exit-after", type=float, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run in the foreground. The token is REPLICATE_API_TOKEN (else a fixed dev token) and the
    webhook secret REPLICATE_WEBHOOK_SECRET (else random, readable at
    GET /v1/webhooks/default/secret); neither is printed."""
    options = _parser().parse_args(argv)
    width, height = options.render_size
    server = ReplicateServer(
        host=options.host,
        port=options.port,
        api_token=os.environ.get("REPLICATE_API_TOKEN") or DEFAULT_TOKEN,
        webhook_secret=os.environ.get("REPLICATE_WEBHOOK_SECRET") or None,
        latency=options.latency,
        error_rate_5xx=options.error_rate_5xx,
        rate_429=options.rate_429,
        retry_after=options.retry_after,
        fail_rate=options.fail_rate,
        seedless_models=options.seedless,
        rng_seed=options.seed,
        render_width=width,
        render_height=height,
        render_fps=options.render_fps,
        max_render_seconds=options.max_render_seconds,
    )
    with server:
        print(f"Replicate loopback server on {server.base_url}")
        print(f"  REPLICATE_BASE_URL={server.base_url}")
        print(f"  token: {mask(server.api_token)} (REPLICATE_API_TOKEN, else the dev token)")
        print(f"  webhook secret: {mask(server.webhook_secret)} (GET /v1/webhooks/default/secret)")
        print(f"  models: {', '.join(sorted(server.models()))}", flush=True)
        deadline = None if options.exit_after is None else time.monotonic() + options.exit_after
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.1)
        except KeyboardInterrupt:
            print("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
