"""Open-weights video models run through diffusers: which pipelines we support, their rules, and
what an operator's model name (a hub id or a local directory) resolves to.

Torch-free on purpose: the web process validates a plan against a diffusers model (refusing an
unknown directory or pipeline class at create, with a 400 naming ``model``) without the
``[diffusion]`` extra's weight; only the worker that renders imports torch
(``pipeline.providers.diffusion``).

The rules per family were read from diffusers 0.42.1's own pipelines (the file named in each
``citations`` entry) and the models' pages; ``docs/providers.md`` repeats them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DIFFUSERS_PROVIDER = "diffusers"
MODEL_INDEX = "model_index.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelNotUsable(ValueError):
    """The name is not a diffusers model we can run (unknown, unreadable, unsupported)."""


@dataclass(frozen=True)
class Family:
    """What every pipeline of one model family accepts."""

    name: str
    # model_index.json's ``_class_name`` -> whether that pipeline needs a first-frame image.
    pipeline_classes: Mapping[str, bool]
    frame_multiple: int  # frame counts are frame_multiple * k + 1 (the VAE's temporal factor)
    spatial_multiple: int  # width and height are multiples of this (VAE factor x patch)
    native_fps: int
    default_steps: int
    default_guidance: float
    citations: Mapping[str, str] = field(default_factory=dict)  # where each rule was read

    def frames_for(self, seconds: float, fps: int) -> int:
        """The frame count nearest to ``seconds`` at ``fps`` that the pipeline accepts
        (ties go to the longer clip: never less than asked when equally close)."""
        wanted = max(round(seconds * fps) + 1, 1)
        blocks = max(math.floor((wanted - 1) / self.frame_multiple + 0.5), 1)
        return self.frame_multiple * blocks + 1

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """``width`` x ``height`` rounded to the nearest accepted size (at least one cell)."""

        def snap(value: int) -> int:
            cells = max(int(value / self.spatial_multiple + 0.5), 1)
            return cells * self.spatial_multiple

        return snap(width), snap(height)


LTX = Family(
    name="ltx",
    # LTXConditionPipeline shares LTXPipeline's components; we render through LTXPipeline.from_pipe.
    pipeline_classes={"LTXPipeline": False, "LTXConditionPipeline": False},
    frame_multiple=8,
    spatial_multiple=32,
    native_fps=24,
    default_steps=50,
    default_guidance=3.0,
    citations={
        "frames": "diffusers/pipelines/ltx/pipeline_ltx.py: latent frames = (frames - 1) // 8 + 1 "
        "(vae_temporal_compression_ratio 8 in LTX-Video's VAE)",
        "size": "pipeline_ltx.py check_inputs: height and width divisible by 32",
        "fps": "https://huggingface.co/Lightricks/LTX-Video: 24 fps (the pipeline's frame_rate "
        "defaults to 25; we pass the rate we render at)",
        "steps, guidance": "LTXPipeline.__call__ defaults (50 steps, guidance 3.0); distilled "
        "checkpoints want about 8 steps and guidance 1 (set COHERENCE_DIFFUSERS_STEPS)",
    },
)

WAN = Family(
    name="wan",
    pipeline_classes={"WanPipeline": False, "WanImageToVideoPipeline": True},
    frame_multiple=4,
    spatial_multiple=16,
    native_fps=16,
    default_steps=50,
    default_guidance=5.0,
    citations={
        "frames": "diffusers/pipelines/wan/pipeline_wan.py: num_frames - 1 divisible by "
        "vae_scale_factor_temporal (4)",
        "size": "pipeline_wan.py: multiples of vae_scale_factor_spatial (8) x patch size (2)",
        "fps": "https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers: 16 fps (export_to_video "
        "example)",
        "steps, guidance": "WanPipeline.__call__ defaults (50 steps, guidance 5.0)",
        "image": "WanImageToVideoPipeline.__call__ takes a required image",
    },
)

FAMILIES: tuple[Family, ...] = (LTX, WAN)

# Hub ids we know the pipeline class of without reading their model_index.json (no hub is
# reachable where Coherence is built; a hub id not listed here is usable once its snapshot is in
# the local Hugging Face cache, where its model_index.json is read).
KNOWN_HUB_MODELS: dict[str, str] = {
    "Lightricks/LTX-Video": "LTXPipeline",
    "Lightricks/LTX-Video-0.9.7-dev": "LTXConditionPipeline",
    "Lightricks/LTX-Video-0.9.7-distilled": "LTXConditionPipeline",
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": "WanPipeline",
    "Wan-AI/Wan2.1-T2V-14B-Diffusers": "WanPipeline",
    "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers": "WanImageToVideoPipeline",
    "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers": "WanImageToVideoPipeline",
    "Wan-AI/Wan2.2-T2V-A14B-Diffusers": "WanPipeline",
    "Wan-AI/Wan2.2-I2V-A14B-Diffusers": "WanImageToVideoPipeline",
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": "WanPipeline",
}


@dataclass(frozen=True)
class DiffusersModel:
    """An operator's model name, resolved: its pipeline class, family and identity."""

    name: str  # as given: a hub id or a directory
    class_name: str
    family: Family
    needs_image: bool
    # What exactly ran, for the recipe: {"hub_id", "revision"} or {"directory", "fingerprint"}.
    identity: Mapping[str, str]
    # What ``from_pretrained`` is given (diffusers' own name): the directory's absolute path, or
    # the hub id.
    pretrained_name_or_path: str


def family_of(class_name: str) -> Family:
    for family in FAMILIES:
        if class_name in family.pipeline_classes:
            return family
    supported = ", ".join(sorted(c for f in FAMILIES for c in f.pipeline_classes))
    raise ModelNotUsable(
        f"pipeline class {class_name!r} is not supported by the diffusers provider; "
        f"supported: {supported}"
    )


def looks_like_directory(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().is_dir()


def directory_fingerprint(directory: Path, index_bytes: bytes) -> str:
    """sha256 of model_index.json plus every weight file's relative name and size: two copies of
    one model agree, a changed weight file (new size or name) does not. Reads no weights."""
    digest = hashlib.sha256(index_bytes)
    weights = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    for path in weights:
        digest.update(f"\n{path.relative_to(directory).as_posix()}:{path.stat().st_size}".encode())
    return digest.hexdigest()


def _from_directory(name: str) -> DiffusersModel:
    directory = Path(name).expanduser().resolve()
    if not directory.is_dir():
        raise ModelNotUsable(f"{name!r} is not a directory")
    index_path = directory / MODEL_INDEX
    try:
        index_bytes = index_path.read_bytes()
        class_name = json.loads(index_bytes)["_class_name"]
    except FileNotFoundError:
        raise ModelNotUsable(
            f"{name!r} holds no {MODEL_INDEX}: not a diffusers pipeline directory"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelNotUsable(f"{name!r}: {MODEL_INDEX} is unreadable ({exc})") from None
    family = family_of(class_name)
    identity = {
        "directory": str(directory),
        "fingerprint": directory_fingerprint(directory, index_bytes),
    }
    return DiffusersModel(
        name, class_name, family, family.pipeline_classes[class_name], identity, str(directory)
    )


def _cached_hub_index(hub_id: str) -> tuple[str, str] | None:
    """(class name, revision) from a snapshot in the local Hugging Face cache, if there is one."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # the [diffusion] extra is not installed
        return None
    found = try_to_load_from_cache(hub_id, MODEL_INDEX)
    if not isinstance(found, str):
        return None
    path = Path(found)
    try:
        class_name = json.loads(path.read_text())["_class_name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return class_name, path.parent.name  # snapshots/<commit>/model_index.json


def _from_hub(name: str) -> DiffusersModel:
    cached = _cached_hub_index(name)
    if cached is not None:
        class_name, revision = cached
    elif name in KNOWN_HUB_MODELS:
        class_name, revision = KNOWN_HUB_MODELS[name], "main"
    else:
        raise ModelNotUsable(
            f"unknown diffusers model {name!r}: give a directory holding a diffusers pipeline, "
            f"a hub id whose snapshot is in the local Hugging Face cache, or one of "
            f"{', '.join(sorted(KNOWN_HUB_MODELS))}"
        )
    family = family_of(class_name)
    identity = {"hub_id": name, "revision": revision}
    return DiffusersModel(
        name, class_name, family, family.pipeline_classes[class_name], identity, name
    )


@lru_cache(maxsize=64)
def inspect_model(name: str) -> DiffusersModel:
    """Resolve an operator's model name; raises ``ModelNotUsable`` with a readable reason.

    Cached per process (a scene reads its model several times); failures are not cached, so a
    directory that appears later is found then.
    """
    if not isinstance(name, str) or not name.strip():
        raise ModelNotUsable("a diffusers model needs a name: a hub id or a directory")
    if looks_like_directory(name):
        return _from_directory(name)
    if HUB_ID.match(name):
        return _from_hub(name)
    raise ModelNotUsable(f"{name!r} is neither a directory nor a hub id (owner/name)")


def is_diffusers_model(name: str) -> bool:
    """Whether ``name`` should be resolved as a diffusers model (a directory or a hub id of a
    family we know), before the hosted registry's error is given."""
    return (
        looks_like_directory(name)
        or name in KNOWN_HUB_MODELS
        or (bool(HUB_ID.match(name)) and _cached_hub_index(name) is not None)
    )
