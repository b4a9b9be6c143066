"""Diffusers provider benchmark, on tiny random-weight LTX and Wan pipelines on the CPU.

Run: ``python -m bench.diffusion_bench`` (needs the ``[diffusion]`` extra; says so and exits 0
without it). Prints, per family, measured in this one run:

- the hand-over's cost: starting a scene from the stored latent (load an .npy) against frame
  conditioning (the last frame through the pipeline's VAE: the encode a latent hand-over skips),
  both for that step alone and for the whole scene;
- a second scene's pipeline load against the first (one load per process);
- peak memory (resident set) against the process before torch was imported.

Tiny models make the denoiser cheap and the VAE tiny, so the ratios say where the time goes on
these machines, not what a GPU with real weights does (docs/providers.md, "Your own GPU").
"""

from __future__ import annotations

import importlib.util
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 5
SIZE = 128  # px, square: a 2-second scene at 128x128 on the tiny models


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def _timed(func, repeats: int = REPEATS) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return samples


def bench_family(family: str, directory: Path, work: Path) -> None:
    import numpy as np

    from pipeline import media
    from pipeline.providers import diffusion
    from pipeline.providers.base import SceneRequest
    from pipeline.providers.diffusion_families import inspect_model

    options = diffusion.DiffusersOptions(scratch_dir=work / f"scratch-{family}", steps=4)
    model = inspect_model(str(directory))
    diffusion.forget_pipelines()
    cold = diffusion.timed_load(model, options)
    warm = _median([diffusion.timed_load(model, options) for _ in range(REPEATS)])
    print(
        f"  pipeline load: first {cold * 1000:.1f} ms, second {warm * 1000:.3f} ms; "
        f"second / first = {warm / cold:.5f}"
    )

    provider = diffusion.DiffusersProvider(options)
    base = dict(model=str(directory), prompt="a lighthouse at night", duration=2.0, seed=7,
                width=SIZE, height=SIZE, fps=24)  # fmt: skip
    head = provider.submit(SceneRequest(**base))
    out = provider.fetch_output(head.finished, work)
    pipe = diffusion.load_pipeline(
        model, device=provider.device, dtype=provider.dtype, options=options
    )
    layout = diffusion.LatentLayout(pipe, model.family.name)
    picture = media.load_png(out.last_frame_path)
    plan = diffusion.render_plan(model, SceneRequest(**base), options)

    by_latent = _timed(lambda: np.load(out.latent_path, allow_pickle=False))
    by_frame = _timed(lambda: layout.encode_picture(picture, plan.width, plan.height))
    print(
        f"  hand-over step: latent {_median(by_latent) * 1000:.2f} ms, frame (VAE encode) "
        f"{_median(by_frame) * 1000:.2f} ms; latent / frame = "
        f"{_median(by_latent) / _median(by_frame):.3f}"
    )
    # Interleaved, so a load change on the machine hits both alike.
    scene_latent, scene_frame = [], []
    for _ in range(REPEATS):
        scene_latent += _timed(
            lambda: provider.submit(SceneRequest(**base, init_latent_path=out.latent_path)), 1
        )
        scene_frame += _timed(
            lambda: provider.submit(SceneRequest(**base, init_image_path=out.last_frame_path)), 1
        )
    print(
        f"  whole scene ({plan.frames} frames at {plan.width}x{plan.height}, {plan.steps} steps): "
        f"latent {_median(scene_latent):.3f} s, frame {_median(scene_frame):.3f} s; "
        f"latent / frame = {_median(scene_latent) / _median(scene_frame):.3f}"
    )


def main() -> int:
    missing = [m for m in ("torch", "diffusers", "transformers") if not importlib.util.find_spec(m)]
    if missing:
        names = ", ".join(missing)
        print(f"diffusion bench: {names} not installed (pip install -e '.[diffusion]')")
        return 0
    before_torch = _peak_rss_mb()
    import torch

    from bench.tiny_diffusers import FAMILIES, write_tiny_pipeline

    torch.set_num_threads(1)  # one core: comparable across runs on a shared machine
    print("diffusers provider on tiny pipelines, CPU, one thread")
    with tempfile.TemporaryDirectory(prefix="diffusion_bench_") as tmp:
        work = Path(tmp)
        after_import = _peak_rss_mb()
        for family in FAMILIES:
            print(f"{family}:")
            bench_family(family, write_tiny_pipeline(family, work / family), work)
    peak = _peak_rss_mb()
    print(
        f"peak memory: {peak:.0f} MB resident; before torch {before_torch:.0f} MB, after the "
        f"imports {after_import:.0f} MB; peak / after imports = {peak / after_import:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
