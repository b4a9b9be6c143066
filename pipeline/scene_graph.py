"""The scene graph: a plan splits into chains at every non-continuous scene.

Chain heads can start at once, in parallel; a continuous scene waits for its predecessor. The wall
time of a generation therefore approaches its longest chain (the critical path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class PlannedScene(Protocol):
    index: int
    continuous: bool


def chains(scenes: Sequence[PlannedScene]) -> list[list[int]]:
    """Scene indexes grouped into chains, in plan order."""
    result: list[list[int]] = []
    for scene in sorted(scenes, key=lambda s: s.index):
        if scene.continuous and result:
            result[-1].append(scene.index)
        else:
            result.append([scene.index])
    return result


def heads(scenes: Sequence[PlannedScene]) -> list[int]:
    return [chain[0] for chain in chains(scenes)]


def predecessor(index: int, continuous: bool) -> int | None:
    """The scene this one carries on from, if any."""
    return index - 1 if continuous and index > 0 else None


def critical_path(durations: Sequence[float], scenes: Sequence[PlannedScene]) -> float:
    """The longest chain's total of ``durations`` (indexed by scene index)."""
    return max(sum(durations[i] for i in chain) for chain in chains(scenes))
