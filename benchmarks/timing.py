"""Interleaved timing, generation time and peak memory.

Timing is round-robin: each repetition times one batch of calls of every system in turn,
so a burst of machine noise hits all systems alike rather than one system's whole run. The
order is shuffled every repetition (with a fixed seed): a system that runs right after a
framework finds the caches cold, and a fixed order would charge that to the same system
every time (it cost whichever system followed tangent-ad, PyTorch and JAX 5-14%). Each batch
also starts with one untimed call, so that a sample is the steady state a training loop
sees, not the cold start after another system: a batch of a slow workload holds only one to
three calls, and the cold first one moved gradgen's ratio on the CS224n network at batch 64
between 1.03 and 1.11 over four runs (1.02-1.04 with the untimed call; hand NumPy alike).
A batch is as many calls as fill ``batch_seconds``
(at least one); its mean is one sample, and the reported time is the median of the samples.
Short batches (a few ms) and many repetitions interleave finely, so that on a shared machine
the other processes' load is spread evenly over the systems. Each batch records wall time and
this process's CPU time: with every system on one thread, CPU time is the same as wall time on
an idle machine, and leaves out the time other processes take the core on a busy one.
The garbage collector is off inside a batch, as in ``timeit``.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
import types


def _batch(fn, number):
    """(wall seconds, process CPU seconds) per call, over ``number`` calls."""
    gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(number):
            fn()
        return (time.perf_counter() - wall) / number, (time.process_time() - cpu) / number
    finally:
        gc.enable()


def calls_per_batch(fn, batch_seconds):
    """How many calls of ``fn`` fill ``batch_seconds`` (after one warm-up call)."""
    fn()
    number = 1
    while True:
        took = _batch(fn, number)[0] * number
        if took >= batch_seconds or number >= 1 << 20:
            return number
        number = max(number * 2, int(number * batch_seconds / max(took, 1e-9) * 1.1))


def interleaved(fns: dict, repeats: int, batch_seconds: float, warm: bool = True) -> dict:
    """{name: [(wall, CPU) seconds per call, one sample per repetition]} for the zero-argument
    callables ``fns``. With ``warm``, each batch starts with one untimed call."""
    names = list(fns)
    numbers = {name: calls_per_batch(fns[name], batch_seconds) for name in names}
    samples = {name: [] for name in names}
    order = random.Random(0)
    for _ in range(repeats):
        order.shuffle(names)
        for name in names:
            if warm:
                fns[name]()
            samples[name].append(_batch(fns[name], numbers[name]))
    return samples


def summary(samples) -> tuple[float, float, float]:
    """(median, interquartile range / median, fastest) of one system's samples."""
    q1, q2, q3 = statistics.quantiles(samples, n=4) if len(samples) > 1 else samples * 3
    return q2, (q3 - q1) / q2, min(samples)


def peak_memory(fn) -> int:
    """Peak bytes allocated (NumPy buffers included: NumPy reports them to tracemalloc) during
    one call of ``fn``, above what was allocated before it; the result stays alive to the end."""
    fn()  # warm: caches and lazily built objects are not counted
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - before
        del result
    finally:
        tracemalloc.stop()
    return peak


def fresh(fn):
    """A new function object with ``fn``'s code, so nothing can be cached on the object."""
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def generation_seconds(derive, fn, wrt, repeats: int):
    """(median seconds of ``derive(fresh fn, wrt=wrt)``, the last derived function)."""
    times = []
    for _ in range(repeats):
        f = fresh(fn)
        start = time.perf_counter()
        derived = derive(f, wrt=wrt)
        times.append(time.perf_counter() - start)
    return statistics.median(times), derived


_COLD_START = """
import sys, time
from benchmarks import workloads  # NumPy first: a program that derives has it imported already
start = time.perf_counter()
import gradgen
imported = time.perf_counter()
gradgen.derive(workloads.cs224n)  # a network: most rule families
sys.stdout.write(f"{imported - start} {time.perf_counter() - imported}")
"""


def cold_start(template_cache: str | None) -> tuple[float, float]:
    """(seconds to import gradgen, seconds of the first derive) in a new process, with the
    compiled templates cached in the folder ``template_cache`` (None: no cache)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("GRADGEN_CACHE_DIR", "GRADGEN_NO_CACHE")}
    env.update({"GRADGEN_CACHE_DIR": template_cache} if template_cache else {"GRADGEN_NO_CACHE": "1"})
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    out = subprocess.run([sys.executable, "-c", _COLD_START], env=env, cwd=root, capture_output=True,
                         text=True, check=True, timeout=300).stdout
    imported, derived = map(float, out.split())
    return imported, derived
