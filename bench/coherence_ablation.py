"""Ablation: how much do seed control and latent reuse each buy, measured by the coherence score?

Renders N four-scene plans on the local model (scenes 2 and 4 continue their predecessor) in five
configurations and scores every video with ``pipeline.coherence.score_clips``:

    neither        every scene its own random seed, no latent handoff
    seed only      one shared seed for all scenes, no latent handoff
    latent only    own random seeds, continuous scenes start from the predecessor's final latent
    both           shared seed + latent handoff
    both + match   "both", then every scene colour-matched to scene 1 (Reinhard in LAB)

Within a plan the configurations share everything else: the prompts, and scene 1's seed (the
"random" seeds of scenes 2-4 are drawn once per plan and reused with and without latent reuse),
so per-plan differences isolate the two switches. The plan generator is seeded: same arguments,
same numbers.

    python -m bench.coherence_ablation [--plans 24] [--seed 2024] [--width 256 --height 144]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import localmodel
from pipeline.coherence.colour import color_match_clip
from pipeline.coherence.score import CoherenceReport, SceneClip, score_clips

# Scene 2 continues scene 1 and scene 4 continues scene 3.
CONTINUOUS = (False, True, False, True)

# (opening shot, its continuation). A plan takes two stories, so its continuous pairs are about
# one subject and the cut between them changes subject, as a real plan would.
STORIES: tuple[tuple[str, str], ...] = (
    ("a red fox runs through fresh snow", "the fox leaps over a fallen log"),
    ("a quiet lake at dawn", "mist rises slowly over the lake"),
    ("neon city skyline at night", "cars stream along the wet avenue below"),
    ("an old lighthouse on a cliff", "waves crash against the rocks under the lighthouse"),
    ("a chef chops herbs in a busy kitchen", "the chef flips vegetables in a hot pan"),
    ("a hot air balloon rises over fields", "the balloon drifts above a small village"),
    ("a cat naps on a sunny windowsill", "the cat stretches and jumps to the floor"),
    ("a spaceship approaches a ringed planet", "the ship enters orbit above the rings"),
    ("children fly kites on a windy beach", "a kite loops high above the dunes"),
    ("a train crosses a stone viaduct", "passengers watch the valley from the train window"),
    ("autumn leaves fall in a park", "a gust sweeps the leaves along the path"),
    ("a violinist plays on a dim stage", "the spotlight widens over the orchestra"),
    ("a desert caravan at sunset", "camels cast long shadows across the dunes"),
    ("rain taps on a cafe window", "a couple shares coffee inside the cafe"),
    ("a whale surfaces in a grey ocean", "the whale dives and its tail lifts from the water"),
    ("a blacksmith hammers glowing iron", "sparks fly as the blade is quenched"),
    ("a mountain climber reaches a ridge", "clouds roll over the summit beyond the climber"),
    ("fireflies glow in a summer meadow", "the meadow darkens as the moon rises"),
    ("a paper boat floats down a gutter", "the boat spins into a storm drain"),
    ("a robot tends a rooftop garden", "the robot waters tomatoes at sunrise"),
    ("a fishing boat leaves the harbour", "gulls follow the boat out to sea"),
    ("a library with towering shelves", "a ladder slides along the shelves"),
    ("a dragon sleeps on a pile of gold", "the dragon opens one glowing eye"),
    ("a skateboarder drops into a bowl", "the skateboarder carves along the rim"),
    ("snow falls on a mountain cabin", "smoke curls from the cabin chimney"),
    ("a jellyfish pulses in dark water", "a swarm of jellyfish drifts upward"),
)


@dataclass(frozen=True)
class Plan:
    prompts: tuple[str, str, str, str]
    shared_seed: int  # also scene 1's seed in every configuration
    own_seeds: tuple[int, int, int, int]  # "no seed control": one random seed per scene


@dataclass(frozen=True)
class Config:
    name: str
    shared_seed: bool
    latent_reuse: bool
    color_match: bool = False


CONFIGS: tuple[Config, ...] = (
    Config("neither", shared_seed=False, latent_reuse=False),
    Config("seed only", shared_seed=True, latent_reuse=False),
    Config("latent only", shared_seed=False, latent_reuse=True),
    Config("both", shared_seed=True, latent_reuse=True),
    Config("both + match", shared_seed=True, latent_reuse=True, color_match=True),
)


def make_plans(count: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    plans = []
    for _ in range(count):
        first, second = rng.sample(STORIES, 2)
        shared = rng.randrange(2**31)
        own = (shared, *(rng.randrange(2**31) for _ in range(3)))
        plans.append(Plan((*first, *second), shared, own))  # type: ignore[arg-type]
    return plans


@dataclass(frozen=True)
class RenderSettings:
    width: int
    height: int
    duration: float
    fps: int


def render_plan(plan: Plan, config: Config, out: Path, settings: RenderSettings) -> list[Path]:
    paths: list[Path] = []
    latent: np.ndarray | None = None
    for i, prompt in enumerate(plan.prompts):
        seed = plan.shared_seed if config.shared_seed else plan.own_seeds[i]
        init = latent if (config.latent_reuse and CONTINUOUS[i]) else None
        request = localmodel.RenderRequest(
            prompt,
            seed,
            settings.duration,
            fps=settings.fps,
            width=settings.width,
            height=settings.height,
            init_latent=init,
        )
        # threads=1: x264 output is then byte-identical run to run.
        result = localmodel.render(request, out, f"scene{i + 1}", threads=1)
        latent = localmodel.load_latent(result.latent_path)
        paths.append(result.video.path)
    return paths


def matched_to_first(paths: Sequence[Path], out: Path) -> list[Path]:
    matched = [paths[0]]
    for i, path in enumerate(paths[1:], start=2):
        dst = out / f"scene{i}.matched.mp4"
        color_match_clip(path, paths[0], dst)
        matched.append(dst)
    return matched


def run_plan(plan: Plan, work: Path, settings: RenderSettings) -> dict[str, CoherenceReport]:
    reports: dict[str, CoherenceReport] = {}
    rendered: dict[tuple[bool, bool], list[Path]] = {}
    for config in CONFIGS:
        key = (config.shared_seed, config.latent_reuse)
        if key not in rendered:
            out = work / f"seed{int(key[0])}_latent{int(key[1])}"
            rendered[key] = render_plan(plan, config, out, settings)
        paths = rendered[key]
        if config.color_match:
            paths = matched_to_first(paths, paths[0].parent)
        clips = [SceneClip(i + 1, p, CONTINUOUS[i]) for i, p in enumerate(paths)]
        reports[config.name] = score_clips(clips)
    return reports


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _stats(values: Sequence[float]) -> tuple[float, float, float, float]:
    return (
        statistics.fmean(values),
        statistics.stdev(values) if len(values) > 1 else 0.0,
        min(values),
        max(values),
    )


def format_table(results: list[dict[str, CoherenceReport]]) -> str:
    header = (
        f"{'config':<13} {'n':>3} {'score':>6} {'std':>6} {'min':>6} {'max':>6} "
        f"{'style':>6} {'contin':>6} {'stab':>6}"
    )
    lines = [header, "-" * len(header)]
    for config in CONFIGS:
        reports = [r[config.name] for r in results]
        mean, std, lo, hi = _stats([r.score for r in reports])
        style = statistics.fmean(r.style for r in reports)
        cont = statistics.fmean(r.continuity or 0.0 for r in reports)
        stab = statistics.fmean(r.stability for r in reports)
        lines.append(
            f"{config.name:<13} {len(reports):>3} {mean:>6.3f} {std:>6.3f} {lo:>6.3f} {hi:>6.3f} "
            f"{style:>6.3f} {cont:>6.3f} {stab:>6.3f}"
        )
    return "\n".join(lines)


MARGINS: tuple[tuple[str, str], ...] = (
    ("both", "seed only"),
    ("both", "latent only"),
    ("seed only", "neither"),
    ("latent only", "neither"),
    ("both", "neither"),
    ("both + match", "both"),
)


def format_margins(results: list[dict[str, CoherenceReport]]) -> str:
    """Paired margins: per-plan score differences, so plan difficulty cancels out."""
    lines = [f"{'margin (paired per plan)':<28} {'mean':>7} {'std':>6} {'min':>7} {'a > b':>7}"]
    for a, b in MARGINS:
        diffs = [r[a].score - r[b].score for r in results]
        mean, std, lo, _ = _stats(diffs)
        wins = sum(d > 0 for d in diffs)
        lines.append(
            f"{a + ' - ' + b:<28} {mean:>+7.3f} {std:>6.3f} {lo:>+7.3f} {wins:>3}/{len(diffs):<3}"
        )
    return "\n".join(lines)


def verdict(results: list[dict[str, CoherenceReport]]) -> str:
    mean = {c.name: statistics.fmean(r[c.name].score for r in results) for c in CONFIGS}
    holds = min(mean["seed only"], mean["latent only"]) > mean["neither"] and mean["both"] > max(
        mean["seed only"], mean["latent only"]
    )
    order = " > ".join(
        f"{name} {value:.3f}" for name, value in sorted(mean.items(), key=lambda kv: -kv[1])
    )
    expected = "both on > each alone > neither: " + ("HOLDS" if holds else "DOES NOT HOLD")
    return f"{expected}\nmeans: {order}"


def _run_one(job: tuple[Plan, Path, RenderSettings]) -> dict[str, CoherenceReport]:
    return run_plan(*job)


def run_all(
    plans: Sequence[Plan], work: Path, settings: RenderSettings, jobs: int
) -> list[dict[str, CoherenceReport]]:
    """Every plan in every configuration; results in plan order whatever ``jobs`` is."""
    tasks = [(plan, work / f"plan{n:02d}", settings) for n, plan in enumerate(plans, start=1)]
    if jobs == 1:  # in-process: easier to profile and debug
        return _collect(map(_run_one, tasks), len(tasks))
    with ProcessPoolExecutor(jobs) as pool:
        return _collect(pool.map(_run_one, tasks), len(tasks))


def _collect(
    results: Iterable[dict[str, CoherenceReport]], total: int
) -> list[dict[str, CoherenceReport]]:
    show = sys.stderr.isatty()  # progress only for a person watching, never in captured output
    collected = []
    for n, result in enumerate(results, start=1):
        collected.append(result)
        if show:
            print(f"\rplan {n}/{total}", end="", file=sys.stderr, flush=True)
    if show:
        print(file=sys.stderr)
    return collected


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=24, help="number of 4-scene plans (>= 2)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the plan generator")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=144)
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per scene")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--keep", type=Path, default=None, help="keep clips in this directory")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="plans rendered in parallel"
    )
    args = parser.parse_args(argv)
    if args.plans < 2:
        parser.error("--plans must be at least 2 (std needs two values)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = RenderSettings(args.width, args.height, args.duration, args.fps)
    plans = make_plans(args.plans, args.seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="coherence-ablation-"))
    started = time.perf_counter()
    try:
        results = run_all(plans, work, settings, max(1, args.jobs))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print(
        f"coherence ablation: {len(plans)} plans x 4 scenes, local model {args.width}x"
        f"{args.height}, {args.duration:g} s/scene @ {args.fps} fps, plan seed {args.seed}, "
        f"scenes 2 and 4 continuous ({elapsed:.0f} s)"
    )
    print()
    print(format_table(results))
    print()
    print(format_margins(results))
    print()
    print(verdict(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
