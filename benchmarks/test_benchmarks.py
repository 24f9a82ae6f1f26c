"""Checks of the benchmark code itself (no timings are asserted): python -m pytest benchmarks -q"""

import numpy as np
import pytest

import gradgen
from benchmarks import checks, report, timing, workloads

WORKLOADS = workloads.all_workloads()


@pytest.mark.parametrize("wl", WORKLOADS, ids=[w.name for w in WORKLOADS])
def test_hand_written_gradients_match_central_differences(wl):
    rng = np.random.default_rng(1)
    args = wl.make_args(rng)
    value, grads = wl.hand(*args)
    assert np.isclose(value, wl.forward(*args), rtol=1e-12)
    assert checks.central_differences(wl, args, grads, entries=4, rng=rng) < checks.FD_TOL


@pytest.mark.parametrize("wl", WORKLOADS, ids=[w.name for w in WORKLOADS])
def test_gradgen_agrees_with_hand_written(wl):
    args = wl.make_args(np.random.default_rng(2))
    value, grads = gradgen.derive(wl.forward, wrt=wl.wrt).value_and_grad(*args)
    ok, worst = checks.compare(float(value), grads, *wl.hand(*args))
    assert ok, worst


def test_interleaved_gives_a_sample_per_repetition():
    samples = timing.interleaved({"a": lambda: None, "b": lambda: sum(range(10))}, repeats=3,
                                 batch_seconds=1e-4)
    assert sorted(samples) == ["a", "b"]
    assert all(len(s) == 3 and all(wall > 0 and cpu >= 0 for wall, cpu in s) for s in samples.values())


def test_each_batch_starts_with_an_untimed_call(monkeypatch):
    monkeypatch.setattr(timing, "calls_per_batch", lambda fn, seconds: 2)
    calls = []
    samples = timing.interleaved({"a": lambda: calls.append(1)}, repeats=3, batch_seconds=1e-4)
    assert len(samples["a"]) == 3 and len(calls) == 3 * (1 + 2)
    calls.clear()
    timing.interleaved({"a": lambda: calls.append(1)}, repeats=3, batch_seconds=1e-4, warm=False)
    assert len(calls) == 3 * 2


def test_peak_memory_sees_numpy_buffers():
    assert timing.peak_memory(lambda: np.ones(100_000)) >= 800_000


def test_table_shows_ratios_and_reasons():
    row = dict(name="w", medians={"gradgen": 2e-6, "hand NumPy": 1e-6}, notes={"JAX jit": "refused: x"})
    lines = report.table([row], ["gradgen", "hand NumPy", "JAX jit"], "hand NumPy")
    assert lines[-1] == "| w | 2 (2.00×) | 1 (1.00×) | refused: x |"
