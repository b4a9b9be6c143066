"""Reading request bodies: a JSON parser with limits, and the envelope check before a service.

``BoundedJSONParser`` limits body size and nesting depth. DRF's JSONParser reads the whole
stream (Django's DATA_UPLOAD_MAX_MEMORY_SIZE only guards ``request.body``) and lets a
RecursionError from a deeply nested body escape as a 500. No request of this API nests deeper
than 4 levels, so anything past MAX_DEPTH is a 400.

``read_body`` and ``read_multipart`` check only the envelope (an object, known keys, storable
text, image parts of known names); the services validate the values, and the serializers in
``generations.api.serializers`` document them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings

from generations.api.errors import PayloadTooLarge
from pipeline.images import MAX_IMAGE_BYTES

MAX_DEPTH = 32


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in a decoded JSON value (iteratively: no recursion)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        too_deep = exceptions.ParseError(
            f"JSON parse error - nested deeper than {MAX_DEPTH} levels."
        )
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:  # the C decoder gives up near the recursion limit (~1000 levels)
            raise too_deep from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if nesting_depth(data) > MAX_DEPTH:
            raise too_deep
        return data


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _unstorable_text(value: Any, path: str) -> dict[str, list[str]]:
    """Strings no database text column can hold: NUL (PostgreSQL) and lone surrogates (any)."""
    if isinstance(value, str):
        if "\x00" in value:
            return {path: ["Text must not contain NUL (\\u0000) characters."]}
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return {path: ["Text must be valid Unicode (no lone surrogate escapes)."]}
        return {}
    errors: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            errors.update(_unstorable_text(key, child) or _unstorable_text(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.update(_unstorable_text(item, f"{path}.{index}" if path else str(index)))
    return errors


_SCENE_IMAGE_PART = re.compile(r"^scenes\.(\d+)\.image$")


def _upload_bytes(upload: Any, name: str) -> bytes:
    if getattr(upload, "size", 0) > MAX_IMAGE_BYTES:
        raise serializers.ValidationError({name: ["The image is larger than 10 MB."]})
    return upload.read()


def read_multipart(data: Any, files: Any, *, allowed: Iterable[str]) -> dict[str, Any]:
    """A multipart create: the JSON body in a ``plan`` part, images as file parts named
    ``reference_image`` and ``scenes.N.image``. Refused with a 400 when anything else is sent."""
    extra = sorted(set(data) - {"plan"})
    if "plan" not in data or extra:
        raise serializers.ValidationError(
            {"plan": ["A multipart create sends the JSON body in one part named 'plan'."]}
        )
    try:
        body = read_body(json.loads(data["plan"]), allowed=allowed)
    except json.JSONDecodeError as exc:
        raise serializers.ValidationError({"plan": [f"Not valid JSON: {exc.msg}."]}) from None
    scenes = body.get("scenes")
    for name, upload in files.items():
        match = _SCENE_IMAGE_PART.match(name)
        if name == "reference_image":
            body["reference_image"] = _upload_bytes(upload, name)
        elif match and isinstance(scenes, list) and int(match.group(1)) < len(scenes):
            index = int(match.group(1))
            if isinstance(scenes[index], dict):
                scenes[index] = {**scenes[index], "image": _upload_bytes(upload, name)}
        else:
            raise serializers.ValidationError(
                {name: ["Unknown file part; use reference_image or scenes.N.image."]}
            )
    return body


def read_body(data: Any, *, allowed: Iterable[str]) -> dict[str, Any]:
    """The request body as a dict of known keys; raises a 400 for anything else."""
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {api_settings.NON_FIELD_ERRORS_KEY: ["The request body must be a JSON object."]}
        )
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise serializers.ValidationError(
            {name: [f"Unknown field; allowed: {', '.join(allowed)}."] for name in unknown}
        )
    errors = _unstorable_text(data, "")
    if errors:
        raise serializers.ValidationError(errors)
    return dict(data)
