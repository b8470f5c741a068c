"""The seed's documented distribution rule: its examples are the table, its promises properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.planner import batch_sizes, plan_batches


@pytest.mark.parametrize(
    ("scenes", "per_batch", "max_parallel", "minimum", "expected"),
    [
        (4, 2, 2, 5, [2, 2]),
        (50, 10, 10, 5, [10] * 5),
        (120, 10, 10, 5, [12] * 10),
        (101, 10, 10, 5, [11] + [10] * 9),
        (24, 10, 10, 8, [8, 8, 8]),
        (11, 10, 10, 5, [6, 5]),
        (7, 10, 10, 5, [7]),
        (1, 10, 10, 5, [1]),
    ],
)
def test_seed_examples_give_the_documented_batches(
    scenes, per_batch, max_parallel, minimum, expected
):
    assert batch_sizes(scenes, per_batch, max_parallel, minimum) == expected


@pytest.mark.parametrize(
    "arguments", [(0, 10, 10, 5), (5, 0, 10, 5), (5, 10, 0, 5), (5, 10, 10, 0), (5, -1, 10, 5)]
)
def test_zero_or_negative_sizes_are_refused(arguments):
    with pytest.raises(ValueError, match=r"≥ 1|at least one scene"):
        batch_sizes(*arguments)


sizes = st.integers(min_value=1, max_value=60)


@given(
    scenes=st.integers(min_value=1, max_value=3000),
    per_batch=sizes,
    max_parallel=sizes,
    minimum=sizes,
)
def test_every_scene_lands_in_exactly_one_batch_in_order(scenes, per_batch, max_parallel, minimum):
    names = [f"scene_{i:05d}" for i in range(scenes)]

    batches = plan_batches(names, per_batch, max_parallel, minimum)

    assert [name for batch in batches for name in batch] == names
    assert 1 <= len(batches) <= max_parallel
    lengths = [len(batch) for batch in batches]
    assert max(lengths) - min(lengths) <= 1
    assert lengths == sorted(lengths, reverse=True)


@given(scenes=st.integers(min_value=1, max_value=3000), per_batch=sizes, max_parallel=sizes)
def test_enough_scenes_fill_every_parallel_slot(scenes, per_batch, max_parallel):
    if scenes >= per_batch * max_parallel:
        assert len(batch_sizes(scenes, per_batch, max_parallel, 5)) == max_parallel
