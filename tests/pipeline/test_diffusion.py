"""The diffusers provider on tiny random-weight LTX and Wan pipelines, on the CPU.

A hand-over is proven in latent space (exact equalities and sha256s): a random VAE reconstructs
nothing, so pixel similarity would prove nothing on these models (shared/reference/diffusers.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline import media
from pipeline.providers.base import ProviderError, SceneRequest
from pipeline.providers.diffusion_families import (
    LTX,
    WAN,
    ModelNotUsable,
    inspect_model,
)

FAMILIES = ("ltx", "wan")


@pytest.fixture
def provider(tmp_path, tiny_models):
    from pipeline.providers.diffusion import DiffusersOptions, DiffusersProvider

    return DiffusersProvider(DiffusersOptions(scratch_dir=tmp_path / "scratch", steps=3))


def request_for(model: Path, **changes) -> SceneRequest:
    fields = dict(
        model=str(model), prompt="a lighthouse at night", duration=0.5, seed=1234,
        width=64, height=64, fps=12,
    )  # fmt: skip
    fields.update(changes)
    return SceneRequest(**fields)


def render(provider, request, tmp_path, progress=None):
    submission = provider.submit(request, progress=progress)
    out = provider.fetch_output(submission.finished, tmp_path)
    return submission, out


def latent(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


# --- the families' rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "seconds", "fps", "frames"),
    [(LTX, 0.5, 24, 17), (LTX, 0.3, 24, 9), (LTX, 5, 24, 121), (WAN, 0.5, 16, 9), (WAN, 5, 16, 81)],
)
def test_frame_counts_follow_each_familys_rule(family, seconds, fps, frames):
    assert family.frames_for(seconds, fps) == frames
    assert (frames - 1) % family.frame_multiple == 0


def test_sizes_round_to_each_familys_multiple():
    assert LTX.size_for(128, 72) == (128, 64)
    assert WAN.size_for(128, 72) == (128, 80)
    assert LTX.size_for(512, 288) == (512, 288)
    assert WAN.size_for(10, 10) == (16, 16)


def test_a_directory_resolves_to_its_pipeline_class_and_a_fingerprint(tiny_models):
    model = inspect_model(str(tiny_models["wan"]))
    assert (model.class_name, model.family, model.needs_image) == ("WanPipeline", WAN, False)
    assert model.identity["directory"] == str(tiny_models["wan"])
    assert len(model.identity["fingerprint"]) == 64
    assert inspect_model(str(tiny_models["ltx"])).identity != model.identity


def test_unusable_model_names_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ModelNotUsable, match="not a directory"):
        inspect_model(str(tmp_path / "missing"))
    with pytest.raises(ModelNotUsable, match=r"holds no model_index\.json"):
        inspect_model(str(tmp_path))
    other = tmp_path / "sdxl"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ModelNotUsable, match="not supported by the diffusers provider"):
        inspect_model(str(other))
    with pytest.raises(ModelNotUsable, match="unknown diffusers model"):
        inspect_model("someone/some-model")
    assert inspect_model("Wan-AI/Wan2.1-T2V-1.3B-Diffusers").class_name == "WanPipeline"


# --- rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_the_same_recipe_gives_identical_latents_and_clips(provider, tiny_models, tmp_path, family):
    request = request_for(tiny_models[family])
    first, a = render(provider, request, tmp_path / "a")
    _, b = render(provider, request, tmp_path / "b")
    assert media.sha256_file(a.latent_path) == media.sha256_file(b.latent_path)
    assert media.sha256_file(a.video_path) == media.sha256_file(b.video_path)
    assert first.seed_applied and first.provider_input["seed"] == 1234
    _, other = render(provider, request_for(tiny_models[family], seed=99), tmp_path / "c")
    assert media.sha256_file(other.latent_path) != media.sha256_file(a.latent_path)


@pytest.mark.parametrize("family", FAMILIES)
def test_rendered_sizes_follow_the_pipeline_and_are_recorded(provider, tiny_models, family):
    request = request_for(tiny_models[family], width=128, height=72)
    submission = provider.submit(request)
    details = submission.finished.extra["details"]
    rule = {"ltx": LTX, "wan": WAN}[family]
    width, height = rule.size_for(128, 72)
    frames = rule.frames_for(0.5, rule.native_fps)
    assert details["rendered"] == {
        "width": width,
        "height": height,
        "frames": frames,
        "fps": rule.native_fps,
        "seconds": (frames - 1) / rule.native_fps,
    }
    info = media.probe(Path(submission.finished.output_url))
    assert (info.width, info.height, info.frame_count) == (width, height, frames)
    assert details["dtype"] == "float32" and details["device"] == "cpu"
    assert details["model_identity"] == inspect_model(str(tiny_models[family])).identity
    assert {"torch", "diffusers", "scheduler", "steps", "guidance"} <= set(details)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_continuous_scene_holds_its_predecessors_final_latent_frame_exactly(
    provider, tiny_models, tmp_path, family
):
    _, head = render(provider, request_for(tiny_models[family]), tmp_path / "head")
    before = latent(head.latent_path)
    submission, cont = render(
        provider,
        request_for(
            tiny_models[family], prompt="storm over the sea", init_latent_path=head.latent_path
        ),
        tmp_path / "next",
    )
    after = latent(cont.latent_path)
    assert after.shape == before.shape
    # Not through pixels: the held frame is the stored latent frame, bit for bit.
    assert np.array_equal(after[:, :, :1], before[:, :, -1:])
    assert not np.array_equal(after[:, :, 1:], before[:, :, 1:])
    assert (
        submission.provider_input["init_latent"] == f"sha256:{media.sha256_file(head.latent_path)}"
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_frame_conditioning_holds_the_pictures_vae_latent(provider, tiny_models, tmp_path, family):
    """The fallback: a picture goes through the VAE into the first latent frame."""
    from pipeline.providers.diffusion import LatentLayout, load_pipeline
    from pipeline.providers.diffusion_families import inspect_model

    _, head = render(provider, request_for(tiny_models[family]), tmp_path / "head")
    _, cont = render(
        provider,
        request_for(tiny_models[family], init_image_path=head.last_frame_path),
        tmp_path / "next",
    )
    model = inspect_model(str(tiny_models[family]))
    pipe = load_pipeline(model, device="cpu", dtype=provider.dtype, options=provider.options)
    encoded = LatentLayout(pipe, model.family.name).encode_picture(
        media.load_png(head.last_frame_path), 64, 64
    )
    assert np.array_equal(latent(cont.latent_path)[:, :, :1], encoded.numpy())


def test_a_latent_from_another_size_is_refused_not_misused(provider, tiny_models, tmp_path):
    _, head = render(provider, request_for(tiny_models["wan"]), tmp_path / "head")
    bigger = request_for(tiny_models["wan"], width=128, init_latent_path=head.latent_path)
    with pytest.raises(ProviderError, match="does not fit this scene's latent grid"):
        provider.submit(bigger)


def test_a_second_scene_pays_no_load(provider, tiny_models):
    from pipeline.providers import diffusion

    diffusion.forget_pipelines()
    provider.submit(request_for(tiny_models["ltx"]))
    provider.submit(request_for(tiny_models["ltx"], prompt="dawn over the harbour"))
    assert diffusion.loaded_pipelines() == 1


def test_progress_follows_the_steps_and_a_cancel_stops_between_them(provider, tiny_models):
    from pipeline.providers.inprocess import RenderCanceled

    seen: list[float] = []
    provider.submit(
        request_for(tiny_models["wan"]), progress=lambda share: seen.append(share) or True
    )
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])

    calls: list[float] = []

    def cancel_after_first(share: float) -> bool:
        calls.append(share)
        return False

    kept = set(provider.root.iterdir())
    with pytest.raises(RenderCanceled):
        provider.submit(request_for(tiny_models["wan"]), progress=cancel_after_first)
    assert calls == pytest.approx([1 / 3])
    assert set(provider.root.iterdir()) == kept  # nothing of the canceled render is left


def test_out_of_memory_fails_the_scene_with_a_clear_message(provider, tiny_models, monkeypatch):
    import torch

    from pipeline.providers import diffusion

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(diffusion, "_call_pipeline", out_of_memory)
    with pytest.raises(ProviderError, match="out of cpu memory rendering 64x64, 9 frames") as err:
        provider.submit(request_for(tiny_models["wan"]))
    assert not err.value.retryable
    monkeypatch.undo()
    assert provider.submit(request_for(tiny_models["wan"])).finished is not None  # lives on


def test_an_image_led_pipeline_starts_from_its_image_and_continues_a_latent(
    provider, tiny_models, tmp_path
):
    """WanImageToVideoPipeline: the head is given its picture; a continuous scene holds the
    predecessor's latent frame exactly (and is shown that frame's picture as its own input)."""
    model = tiny_models["wan-i2v"]
    assert inspect_model(str(model)).needs_image
    with pytest.raises(ProviderError, match="needs a first-frame image"):
        provider.submit(request_for(model))
    start = tmp_path / "start.png"
    media.save_png(np.full((64, 64, 3), (200, 40, 40), dtype=np.uint8), start)
    _, head = render(provider, request_for(model, init_image_path=start), tmp_path / "head")
    _, cont = render(
        provider, request_for(model, init_latent_path=head.latent_path), tmp_path / "c"
    )
    assert np.array_equal(latent(cont.latent_path)[:, :, :1], latent(head.latent_path)[:, :, -1:])
