"""The quality benchmark's paired bootstrap over comping excerpts (bench/bench_quality.py)."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_quality import excerpt_interval, within_noise  # noqa: E402


def rows(values_by_excerpt: dict[str, list[float]]) -> list[dict]:
    return [{"excerpt": unit, "x": v} for unit, vs in values_by_excerpt.items() for v in vs]


def mean_x(rs: list[dict]) -> float:
    return float(np.mean([r["x"] for r in rs]))


def test_paired_difference_over_the_same_excerpts_keeps_a_constant_offset():
    # Excerpts differ a lot (the comping), the two models by exactly 0.1 on each: pairing removes
    # the excerpt spread, so the difference's interval is the offset itself.
    rng = np.random.default_rng(1)
    level = {f"piece@{k}": rng.normal(0, 1) for k in range(9)}
    a = rows({u: [v + 0.1, v + 0.1] for u, v in level.items()})
    b = rows({u: [v, v] for u, v in level.items()})
    iv = excerpt_interval({"a": a, "b": b}, lambda d: mean_x(d["a"]) - mean_x(d["b"]), seed=0)
    assert iv["value"] == pytest.approx(0.1)
    assert iv["lo"] == pytest.approx(0.1) and iv["hi"] == pytest.approx(0.1)
    # One model alone carries the excerpts' spread.
    alone = excerpt_interval({"a": a}, lambda d: mean_x(d["a"]), seed=0)
    assert alone["hi"] - alone["lo"] > 0.5


def test_interval_is_seeded_and_covers_the_value():
    a = rows({f"p@{k}": [k * 0.1, k * 0.1 + 0.05] for k in range(9)})
    first = excerpt_interval({"a": a}, lambda d: mean_x(d["a"]), seed=3)
    assert first == excerpt_interval({"a": a}, lambda d: mean_x(d["a"]), seed=3)
    assert first["lo"] < first["value"] < first["hi"]


@pytest.mark.parametrize("lo, hi, noisy", [(-0.3, -0.1, False), (-0.3, 0.1, True), (0.05, 0.2, False)])
def test_within_noise_one_sided_bar(lo, hi, noisy):
    e = {"intervals": {"realism adapter - base": {"value": (lo + hi) / 2, "lo": lo, "hi": hi}}}
    assert within_noise(e, "realism adapter < base") is noisy


@pytest.mark.parametrize("lo, hi, noisy", [(-10, 20, False), (-40, 10, True), (30, 60, False), (-40, 40, True)])
def test_within_noise_band(lo, hi, noisy):
    e = {"intervals": {"fit gain adapter vs real, %": {"value": (lo + hi) / 2, "lo": lo, "hi": hi}}}
    assert within_noise(e, "fit gain within 25 % of real (same comping)") is noisy
