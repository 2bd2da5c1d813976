"""The soak's verdict: RSS growth is measured from the end of warm-up to the peak after it."""

from __future__ import annotations

import argparse

import pytest

from bench.soak import Tally, growth, report

pytestmark = pytest.mark.unit


def test_growth_is_from_the_first_sample_after_warm_up_to_the_peak() -> None:
    rss = [(0.0, 100.0), (4.0, 150.0), (5.0, 160.0), (9.0, 176.0), (12.0, 170.0)]
    assert growth(rss, warmup=5.0) == (160.0, 176.0, pytest.approx(0.1))


def test_start_up_allocation_before_warm_up_does_not_count() -> None:
    rss = [(0.0, 50.0), (2.0, 160.0), (6.0, 161.0), (8.0, 161.5)]
    assert growth(rss, warmup=2.0)[2] == pytest.approx(1.5 / 160)


def test_no_sample_after_warm_up_is_an_error() -> None:
    with pytest.raises(ValueError, match="no RSS sample"):
        growth([(0.0, 100.0)], warmup=5.0)


def verdict(rss: list[tuple[float, float]], errors: list[str]) -> bool:
    tally = Tally(rss=rss, errors=errors)
    tally.statuses["decode 200"] = 10
    return report(tally, argparse.Namespace(warmup=1.0, clients=2), seconds=10.0).passed


def test_the_soak_fails_on_any_error_or_ten_percent_growth() -> None:
    flat = [(0.0, 90.0), (1.0, 100.0), (5.0, 105.0)]
    assert verdict(flat, errors=[])
    assert not verdict(flat, errors=["decode: 500, not 200"])
    assert not verdict([(1.0, 100.0), (5.0, 110.0)], errors=[])


def test_errors_are_counted_by_kind_and_the_final_rss_is_reported() -> None:
    tally = Tally(rss=[(0.0, 90.0), (1.0, 100.0), (5.0, 103.0), (9.0, 101.0)])
    tally.statuses["decode 200"] = 10
    tally.errors += ["decode: 500, not 200", "encode: TimeoutError", "decode: 500, not 200"]
    result = report(tally, argparse.Namespace(warmup=1.0, clients=2), seconds=10.0)
    assert result.errors == 3
    assert result.errors_by_kind == {"decode: 500, not 200": 2, "encode: TimeoutError": 1}
    assert (result.rss_after_warmup_mb, result.rss_final_mb) == (100.0, 101.0)
    assert result.rss_growth == pytest.approx(0.03)
