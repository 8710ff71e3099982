from __future__ import annotations

import itertools

import pytest

from gameday_chaos.selection import (
    ALL,
    ONE,
    SelectionMode,
    count_for,
    fixed,
    parse_mode,
    percent,
    select_pods,
)

PODS = [f"order-{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("mode", "available", "count"),
    [
        (ALL, 0, 0),
        (ALL, 1, 1),
        (ALL, 10, 10),
        (ONE, 0, 0),
        (ONE, 1, 1),
        (ONE, 10, 1),
        (fixed(3), 10, 3),
        (fixed(3), 2, 2),
        (fixed(3), 0, 0),
        (fixed(10), 10, 10),
        (percent(50), 10, 5),
        (percent(33), 10, 3),
        (percent(100), 7, 7),
        (percent(10), 3, 1),
        (percent(1), 1, 1),
        (percent(99), 10, 9),
        (percent(50), 0, 0),
    ],
)
def test_count_for(mode: SelectionMode, available: int, count: int) -> None:
    assert count_for(mode, available) == count


@pytest.mark.parametrize(
    "mode",
    [
        ALL,
        ONE,
        *(fixed(n) for n in range(1, 12)),
        *(percent(p) for p in (1, 5, 10, 25, 33, 50, 66, 75, 99, 100)),
    ],
)
@pytest.mark.parametrize("available", [0, 1, 2, 3, 5, 10])
def test_select_is_a_deterministic_subset_of_the_right_size(
    mode: SelectionMode, available: int
) -> None:
    pods = PODS[:available]
    chosen = select_pods(pods, mode, seed="scenario-uid")
    assert len(chosen) == count_for(mode, available)
    assert set(chosen) <= set(pods)
    assert chosen == sorted(chosen)
    assert len(set(chosen)) == len(chosen)
    # Same inputs, any listing order: same choice.
    assert select_pods(list(reversed(pods)), mode, seed="scenario-uid") == chosen


def test_different_seeds_spread_the_choice() -> None:
    picks = {tuple(select_pods(PODS, ONE, seed=f"s-{n}")) for n in range(100)}
    assert len(picks) == 10  # every pod gets picked by some seed
    assert select_pods(PODS, fixed(3), 1) == select_pods(PODS, fixed(3), "1")


def test_duplicates_count_once() -> None:
    assert select_pods(["a", "a", "b"], ALL, 0) == ["a", "b"]


def test_growing_fixed_keeps_a_stable_prefix_of_the_shuffle() -> None:
    # Fixed(n) and Fixed(n+1) with one seed draw from the same shuffled order.
    for n in range(1, 9):
        smaller = set(select_pods(PODS, fixed(n), "seed"))
        larger = set(select_pods(PODS, fixed(n + 1), "seed"))
        assert smaller <= larger


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("All", ALL),
        ("One", ONE),
        ("Fixed(3)", fixed(3)),
        ("Fixed:3", fixed(3)),
        ("Percent(50)", percent(50)),
        (" Percent:25 ", percent(25)),
    ],
)
def test_parse_mode(text: str, mode: SelectionMode) -> None:
    assert parse_mode(text) == mode


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Some",
        "Fixed",
        "Fixed(0)",
        "Fixed(x)",
        "Fixed(3",
        "Percent(0)",
        "Percent(101)",
        "All(2)",
        "One:1",
    ],
)
def test_parse_mode_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_mode(text)


def test_all_combinations_of_small_sets_are_reachable() -> None:
    # Over many seeds, Fixed(2) of 4 pods reaches every one of the 6 pairs.
    pods = PODS[:4]
    seen = {tuple(select_pods(pods, fixed(2), seed)) for seed in range(300)}
    assert seen == set(itertools.combinations(pods, 2))
