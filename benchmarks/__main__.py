"""python -m benchmarks [--quick] [--only TEXT] [--threads N] [--malloc {pinned,default}] [--out DIR]

Times one gradient evaluation (forward + backward) of each workload with gradgen's generated
code, hand-written NumPy and whichever of autograd, JAX (eager and jit), PyTorch and tangent-ad
import; measures what ``@gradgen.derive`` costs and peak memory; prints the table and writes
RESULTS.md and results.png. Run it from the repository root. Install the optional systems with
``pip install -e '.[bench]'`` (with a CPU build of torch installed first: PyPI's plain torch
is the multi-GB CUDA build).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    p.add_argument("--quick", action="store_true", help="fewer workloads and repetitions (< 3 minutes)")
    p.add_argument("--only", metavar="TEXT", default=None,
                   help="run only the workloads whose name contains TEXT (e.g. 'cs224n', 'B=64')")
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/torch/XLA threads, for every system")
    p.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                   help="folder for RESULTS.md and results.png (default: benchmarks/)")
    p.add_argument("--malloc", choices=("pinned", "default"), default="pinned",
                   help="pinned (default): glibc keeps freed memory from the start, as a long-running "
                        "process ends up doing; default: glibc as it comes, page faults and all")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def pin_threads(threads):
    """Before NumPy, JAX or torch load: the same thread count for every system."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(threads)
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    os.environ["TANGENT_DISK_CACHE"] = "0"  # tangent-ad would cache generated code in ~/.cache
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def pin_malloc():
    """Fix glibc's thresholds for returning memory to the system (True if done).

    glibc serves a large block with mmap, and raises that threshold as blocks are freed, so
    a temporary of a few hundred KiB costs page faults on every call early in a process
    and none later: the same function ran 4x slower in a fresh process. Fixing the
    threshold at glibc's own ceiling (32 MiB; trimming above 64 MiB) makes every workload
    start from the steady state a long-running program reaches, whatever ran before it."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 64 << 20))
    except (OSError, AttributeError):  # not glibc
        return False


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if "numpy" in sys.modules:
        sys.exit("benchmarks: NumPy was imported before the thread settings; run it as python -m benchmarks")
    pin_threads(opts.threads)
    malloc_pinned = pin_malloc() if opts.malloc == "pinned" else None
    started = time.perf_counter()
    from . import report
    load_start = report.cpu_snapshot()

    import numpy as np

    from . import checks, timing, workloads
    from .systems import REFERENCE, available_systems

    import gradgen
    with tempfile.TemporaryDirectory(prefix="gradgen-bench-cache-") as cache:
        uncached = timing.cold_start(None)
        timing.cold_start(cache)  # compiles the templates and caches them
        cached = timing.cold_start(cache)
    cold = dict(function="cs224n", import_seconds=cached[0], cached=cached[1],
                uncached=uncached[1])

    selected = [wl for wl in workloads.all_workloads() if (not opts.quick or wl.quick)
                and (opts.only is None or opts.only in wl.name)]
    if not selected:
        sys.exit(f"benchmarks: no workload name contains {opts.only!r}")
    systems, skipped, versions = available_systems(opts.threads)
    versions = {"numpy": np.__version__, "gradgen": f"{gradgen.__version__} ({report.checkout_state()})",
                **versions}
    quick = opts.quick
    settings = dict(repeats=25 if quick else 201, batch_seconds=0.002,
                    fd_entries=6 if quick else 20, gen_repeats=3 if quick else 7)
    names = [s.name for s in systems]
    print(f"systems: {', '.join(names)}" + "".join(f"\n  skipped {n}: {r}" for n, r in skipped.items()),
          flush=True)

    rows = []
    for wl in selected:
        print(f"\n== {wl.name}", flush=True)
        rows.append(run_workload(wl, systems, settings, np.random.default_rng(opts.seed)))
        print("   " + "  ".join(f"{s}: {report.cell(rows[-1], s, REFERENCE)}" for s in names), flush=True)

    scaling = []
    for n, repeats in ((10, settings["gen_repeats"]), (100, 3), (1000, 1 if quick else 3)):
        fn = workloads.synthetic_chain(n)
        seconds, derived = timing.generation_seconds(gradgen.derive, fn, None, repeats)
        lines = len(derived.source.splitlines())
        scaling.append((n, lines, seconds))
        print(f"generation of a {n}-statement chain: {seconds * 1e3:.0f} ms ({lines} lines)", flush=True)

    run = dict(rows=rows, systems=names, reference=REFERENCE, skipped=skipped, versions=versions,
               date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               command="python -m benchmarks" + (" --quick" if quick else "") +
                       (f" --threads {opts.threads}" if opts.threads != 1 else "") +
                       (" --malloc default" if opts.malloc == "default" else "") +
                       (f" --only {opts.only!r}" if opts.only is not None else ""),
               mode="quick" if quick else "full", repeats=settings["repeats"],
               batch_ms=settings["batch_seconds"] * 1e3, rtol=checks.RTOL, cold=cold,
               gen_repeats=settings["gen_repeats"], scaling=scaling,
               machine=report.machine_info(opts.threads))
    run["machine"]["malloc"] = (
        "glibc mmap threshold fixed at 32 MiB, trim threshold 64 MiB (steady state from the start)"
        if malloc_pinned else "default (not glibc)" if malloc_pinned is False
        else "glibc defaults (--malloc default): thresholds that move with the process's history")
    print()
    print("\n".join(report.table(rows, names, REFERENCE)))
    print("\nprocess CPU time:")
    print("\n".join(report.table(rows, names, REFERENCE, key="cpu")))
    slow = report.slow_rows(rows, REFERENCE)
    print("\ngradgen slower than %.2fx hand-written: %s" % (
        report.SLOW, ", ".join(f"{row['name']} ({ratio:.2f}x)" for row, ratio, *_ in slow) or "none"))
    os.makedirs(opts.out, exist_ok=True)
    try:
        report.chart(rows, names, REFERENCE, os.path.join(opts.out, "results.png"))
        run["chart"] = True
    except ImportError as err:
        print(f"no chart: {err}")
    run["elapsed"] = time.perf_counter() - started
    run["machine"]["load during the run"] = report.load_summary(load_start, report.cpu_snapshot())
    if report.checkout_state() not in versions["gradgen"]:  # someone committed or edited meanwhile
        versions["gradgen"] += f"; at the end of the run: {report.checkout_state()}"
    with open(os.path.join(opts.out, "RESULTS.md"), "w") as f:
        f.write(report.markdown(run) + "\n")
    print(f"wrote {os.path.join(opts.out, 'RESULTS.md')} in {run['elapsed']:.0f} s")
    return 0


def run_workload(wl, systems, settings, rng):
    """Check, then time, one workload on every system; a row for the report."""
    import gradgen

    from . import checks, timing
    from .systems import Unsupported

    args = wl.make_args(rng)
    row = dict(name=wl.name, function=wl.forward.__name__, medians={}, notes={}, compile={}, memory={},
               deviations={}, spread={}, best={}, cpu={},
               gen_seconds=None, source=None)
    ref_value, ref_grads = wl.hand(*args)
    row["fd_error"] = checks.central_differences(wl, args, ref_grads, settings["fd_entries"], rng)
    if row["fd_error"] > checks.FD_TOL:
        raise SystemExit(f"{wl.name}: the hand-written gradients fail central differences "
                         f"(error {row['fd_error']:.1e}); fix benchmarks/workloads.py")
    calls = {}
    for system in systems:
        try:
            prepared = system.prepare(wl, args)
            value, grads = prepared.result(prepared.call())
        except Unsupported as err:
            row["notes"][system.name] = f"refused: {err}"
            continue
        except Exception as err:  # a framework failing on the workload is a finding, not a crash
            row["notes"][system.name] = f"failed: {type(err).__name__}: {err}"
            continue
        ok, worst = checks.compare(value, grads, ref_value, ref_grads)
        row["deviations"][system.name] = worst
        if not ok:
            row["notes"][system.name] = f"WRONG gradient (max deviation {worst:.1e} of the largest entry)"
            continue
        calls[system.name] = prepared.call
        if prepared.compile_seconds is not None:
            row["compile"][system.name] = prepared.compile_seconds
        if system.numpy_memory:
            row["memory"][system.name] = timing.peak_memory(prepared.call)
    samples = timing.interleaved(calls, settings["repeats"], settings["batch_seconds"])
    for name, times in samples.items():
        row["medians"][name], row["spread"][name], row["best"][name] = timing.summary([w for w, _ in times])
        row["cpu"][name] = timing.summary([c for _, c in times])[0]
    if "gradgen" not in row["notes"]:
        row["gen_seconds"], derived = timing.generation_seconds(gradgen.derive, wl.forward, wl.wrt,
                                                                settings["gen_repeats"])
        row["source"] = derived.source
    return row


if __name__ == "__main__":
    sys.exit(main())
