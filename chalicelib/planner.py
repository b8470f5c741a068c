"""Batch distribution: the seed's documented rule, as a pure function.

1. scenes ≥ scenes_per_batch × max_parallel → max_parallel batches.
2. else n = ceil(scenes / scenes_per_batch); while n > 1 and floor(scenes / n) <
   min_scenes_per_batch: n -= 1.
3. split evenly, larger batches first, order kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def batch_sizes(
    total_scenes: int, scenes_per_batch: int, max_parallel_tasks: int, min_scenes_per_batch: int
) -> list[int]:
    """Sizes of the batches, largest first; raises ValueError on sizes no job can use."""
    if total_scenes < 1:
        raise ValueError("a job needs at least one scene")
    if min(scenes_per_batch, max_parallel_tasks, min_scenes_per_batch) < 1:
        raise ValueError(
            "scenes_per_batch, max_parallel_tasks and min_scenes_per_batch must be ≥ 1"
        )
    if total_scenes >= scenes_per_batch * max_parallel_tasks:
        count = max_parallel_tasks
    else:
        count = -(-total_scenes // scenes_per_batch)
        while count > 1 and total_scenes // count < min_scenes_per_batch:
            count -= 1
    base, extra = divmod(total_scenes, count)
    return [base + 1] * extra + [base] * (count - extra)


def plan_batches(
    scenes: Sequence[T], scenes_per_batch: int, max_parallel_tasks: int, min_scenes_per_batch: int
) -> list[list[T]]:
    """The scenes cut into batches by :func:`batch_sizes`, order kept."""
    sizes = batch_sizes(len(scenes), scenes_per_batch, max_parallel_tasks, min_scenes_per_batch)
    batches: list[list[T]] = []
    start = 0
    for size in sizes:
        batches.append(list(scenes[start : start + size]))
        start += size
    return batches
