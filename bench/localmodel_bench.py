"""Local model benchmark: a 5 s, 512x288, 24 fps scene rendered and encoded, goal <= 2 s.

Run: ``python -m bench.localmodel_bench``. The one-core figure pins numpy's BLAS and x264 to one
thread; the environment variables must be set before numpy is first imported, hence their place.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from pipeline import localmodel, media  # noqa: E402

GOAL_SECONDS = 2.0
REPEATS = 5
REQUEST = localmodel.RenderRequest(
    prompt="a red fox running through a snowy forest at dusk",
    seed=42,
    duration=5.0,
    fps=24,
    width=512,
    height=288,
)


def time_render(work: Path, threads: int) -> list[float]:
    samples = []
    for index in range(REPEATS):
        start = time.perf_counter()
        result = localmodel.render(REQUEST, work, f"run{threads}_{index}", threads=threads)
        samples.append(time.perf_counter() - start)
        assert result.frame_count == 120
    return samples


def time_stages(work: Path) -> tuple[float, float]:
    """Render-only and encode-only seconds (threads=1), to show where the time goes."""
    start = time.perf_counter()
    frames, _final = localmodel.render_frames(REQUEST)
    rendered = list(frames)
    t_render = time.perf_counter() - start
    start = time.perf_counter()
    media.encode(rendered, work / "stage.mp4", fps=REQUEST.fps, threads=1)
    return t_render, time.perf_counter() - start


def report(label: str, samples: list[float]) -> None:
    best, median = min(samples), statistics.median(samples)
    verdict = "OK" if median <= GOAL_SECONDS else "OVER"
    print(
        f"{label}: best {best:.3f} s, median {median:.3f} s over {len(samples)} runs;"
        f" median / goal = {median / GOAL_SECONDS:.2f}  ({verdict})"
    )


def main() -> None:
    started = time.perf_counter()
    # Timings are wall clock: on a shared machine, a high load average inflates them.
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} at start")
    print("5 s scene, 512x288, 24 fps (120 frames), render + H.264 encode; goal <= 2.0 s")
    with tempfile.TemporaryDirectory(prefix="localmodel_bench_") as tmp:
        work = Path(tmp)
        localmodel.render(REQUEST, work, "warmup", threads=1)  # caches, lazy imports
        report("one core  (BLAS 1 thread, x264 threads=1)", time_render(work, threads=1))
        report("all cores (BLAS 1 thread, x264 auto)     ", time_render(work, threads=0))
        t_render, t_encode = time_stages(work)
        print(f"split (one core): latent render + decode {t_render:.3f} s, encode {t_encode:.3f} s")
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
