"""Make a generation again, and optionally check that it matches the original.

python manage.py regenerate_with_seed GENERATION_ID | --from-video FILE.mp4
    [--seed N | --new-seed] [--wait] [--run-cluster] [--verify]
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.management.commands._common import (
    describe,
    load_generation,
    seed_choice,
    wait_for_result,
)
from generations.media import storage
from generations.models import Generation
from generations.services.limits import OPERATOR
from generations.services.reproduce import compare_regeneration, regenerate_generation, replay_video
from pipeline.compare import DIFFERENT, IDENTICAL, SIMILAR_MIN_SSIM, ClipComparison, compare_videos


def _ssim(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


class Command(BaseCommand):
    help = (
        "Regenerate a generation (same seed by default) from the database or from the recipe "
        "embedded in a final video; --verify compares the new scenes and final video with the "
        "originals."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("generation_id", nargs="?", help="the generation to regenerate")
        parser.add_argument(
            "--from-video",
            type=Path,
            metavar="FILE.mp4",
            help="replay the recipe embedded in a final video instead (no database source needed)",
        )
        seed = parser.add_mutually_exclusive_group()
        seed.add_argument("--seed", type=int, help="use this seed instead of the original one")
        seed.add_argument("--new-seed", action="store_true", help="draw a fresh seed")
        parser.add_argument("--title", help="title of the new generation (default: the same)")
        parser.add_argument("--wait", action="store_true", help="wait, with a progress bar")
        parser.add_argument(
            "--run-cluster",
            action="store_true",
            help="start a django-q2 cluster for the duration (implies --wait)",
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="compare every regenerated scene and the final video with the originals, "
            "byte for byte then frame by frame (implies --wait)",
        )
        parser.add_argument("--timeout", type=float, default=600.0)

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["generation_id"]) == bool(options["from_video"]):
            raise CommandError("Give either a GENERATION_ID or --from-video FILE.mp4 (not both).")
        generation, source = self.regenerate(options)
        origin = options["from_video"] or source.pk
        self.stdout.write(f"created generation {generation.pk} (regenerating {origin})")
        if generation.source_generation_id:
            source = generation.source_generation
        if not (options["wait"] or options["run_cluster"] or options["verify"]):
            self.stdout.write(
                "queued: a running qcluster will pick it up (python manage.py workers)"
            )
            return
        generation = wait_for_result(
            self.stdout,
            generation,
            run_cluster=options["run_cluster"],
            timeout=options["timeout"],
            show=options["verbosity"] > 0,
        )
        if options["verify"]:
            self.verify(generation, source=source, video=options["from_video"])

    @staticmethod
    def regenerate(options: dict[str, Any]) -> tuple[Generation, Generation | None]:
        """The new generation, and the stored generation it replays (None for a video)."""
        seed = seed_choice(options)
        try:
            if options["from_video"]:
                replayed = replay_video(
                    path=options["from_video"], seed=seed, title=options["title"], actor=OPERATOR
                )
                return replayed, None
            source = load_generation(options["generation_id"])
            regenerated = regenerate_generation(
                source=source, seed=seed, title=options["title"], actor=OPERATOR
            )
            return regenerated, source
        except ValidationError as exc:
            raise CommandError(f"Cannot regenerate: {describe(exc)}") from None

    def verify(
        self, generation: Generation, *, source: Generation | None, video: Path | None
    ) -> None:
        if source is not None:
            against = f"generation {source.pk}"
            comparisons = compare_regeneration(original=source, regenerated=generation)
        else:
            # The recipe's generation is not in this database: the video itself is the original.
            against = str(video)
            with tempfile.TemporaryDirectory(prefix="coherence-verify-") as tmp:
                new_video = storage.download(generation.video, Path(tmp) / "video.mp4")
                comparisons = [compare_videos(video, new_video, label="final video")]
        self.stdout.write("")
        self.stdout.write(f"verify: {generation.pk} against {against}")
        self.stdout.write(
            f"{'what':<12}  {'verdict':<12}  {'bytes':<5}  {'frames':<6}  "
            f"{'min ssim':>8}  {'mean ssim':>9}  note"
        )
        for c in comparisons:
            self.stdout.write(
                f"{c.label:<12}  {c.verdict:<12}  {'same' if c.bytes_equal else 'diff':<5}  "
                f"{'same' if c.frames_equal else 'diff':<6}  {_ssim(c.min_ssim):>8}  "
                f"{_ssim(c.mean_ssim):>9}  {c.note}"
            )
        self.stdout.write(self.summary(comparisons))

    @staticmethod
    def summary(comparisons: list[ClipComparison]) -> str:
        total = len(comparisons)
        identical = sum(1 for c in comparisons if c.verdict == IDENTICAL)
        different = sum(1 for c in comparisons if c.verdict == DIFFERENT)
        same_bytes = sum(1 for c in comparisons if c.bytes_equal)
        if same_bytes == total:
            return f"reproduced exactly: all {total} compared files are byte-identical"
        if identical == total:
            # Same pictures in other bytes: a replay that re-encoded, or a file that differs
            # in its container (metadata). Not the promise, so said apart.
            return (
                f"same frames, other bytes: all {total} compared outputs are identical frame "
                f"for frame, {total - same_bytes} of them differ in bytes"
            )
        return (
            f"not reproduced exactly: {identical} of {total} identical, {different} different "
            f"(similar = every sampled frame SSIM >= {SIMILAR_MIN_SSIM})"
        )
