"""The scene graph: a plan splits into chains at every non-continuous scene.

Chain heads can start at once, in parallel; a continuous scene waits for its predecessor. The wall
time of a generation therefore approaches its longest chain (the critical path).
"""

from __future__ import annotations


def predecessor(index: int, continuous: bool) -> int | None:
    """The scene this one carries on from, if any."""
    return index - 1 if continuous and index > 0 else None
