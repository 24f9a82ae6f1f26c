"""The results table (printed and in RESULTS.md) and the bar chart of ratios (results.png)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time

SLOW = 1.05  # gradgen slower than this times the hand-written NumPy is flagged


def _us(seconds):
    """Microseconds, to three significant figures or to the unit."""
    us = seconds * 1e6
    return f"{us:,.3g}" if us < 100 else f"{us:,.0f}"


def _ms(seconds):
    return f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _kib(nbytes):
    return f"{nbytes / 1024:,.1f} KiB"


def cell(row, system, reference, key="medians"):
    """'median µs (ratio×)' or the reason there is no time."""
    if system in row["notes"]:
        return row["notes"][system]
    if system not in row[key]:
        return "—"
    t = row[key][system]
    ref = row[key].get(reference)
    return f"{_us(t)} ({t / ref:.2f}×)" if ref else _us(t)


def _short(note):
    first = note.splitlines()[0]
    return first if len(first) <= 60 else first[:57] + "..."


def table(rows, systems, reference, short=True, key="medians") -> list[str]:
    """Markdown table: one row per workload, a 'median µs (ratio to reference)' cell per system."""
    lines = ["| workload | " + " | ".join(systems) + " |",
             "|---|" + "---:|" * len(systems)]
    for row in rows:
        cells = []
        for s in systems:
            text = cell(row, s, reference, key)
            cells.append(_short(text) if short and s in row["notes"] else text)
        lines.append(f"| {row['name']} | " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def slow_rows(rows, reference):
    out = []
    for row in rows:
        m = row["medians"]
        if "gradgen" in m and reference in m and m["gradgen"] > SLOW * m[reference]:
            best, cpu = row.get("best", {}), row.get("cpu", {})
            out.append((row, m["gradgen"] / m[reference], best["gradgen"] / best[reference] if best else None,
                        cpu["gradgen"] / cpu[reference] if cpu else None))
    return out


def markdown(run) -> str:
    rows, systems, ref = run["rows"], run["systems"], run["reference"]
    out = ["# gradgen benchmarks", "",
           f"Run {run['date']} with `{run['command']}` ({run['mode']}), in {run['elapsed']:.0f} s.", "",
           "One **gradient evaluation** is forward + backward: the value and every gradient. Each cell is "
           "the median time of one evaluation in µs and, in brackets, its ratio to the hand-written NumPy "
           "forward + backward (below 1 is faster). Systems were timed round-robin in one process "
           f"({run['repeats']} repetitions, each a batch of calls filling about "
           f"{run['batch_ms']:g} ms per system after one untimed call, order shuffled each repetition). "
           "Before timing, the "
           "hand-written gradients were checked against float64 central differences and every system's "
           f"value and gradients against the hand-written ones (np.allclose, rtol {run['rtol']:g}); a "
           "system that failed is shown with the reason instead of a time.", "",
           "The hand-written NumPy (benchmarks/workloads.py) runs each forward exactly as written, then "
           "a backward a person would write: closed forms, each shared term computed once, the "
           "softmax-cross-entropy adjoint as (yhat - y) / n, the embedding's scatter-add as one "
           "np.bincount. autograd and JAX run the same forward with np bound to autograd.numpy / "
           "jax.numpy (float64); PyTorch runs an op-for-op translation and returns tensors; JAX calls "
           "block until the result is ready.", ""]
    out += table(rows, systems, ref)
    out += ["", "![ratios to hand-written NumPy](results.png)" if run.get("chart") else
            "(No chart: matplotlib is not installed.)", "",
            "The same runs in this process's CPU time (median µs per evaluation, ratio to hand-written "
            "NumPy). Every system runs on one thread, so on an idle machine this equals the wall time; "
            "on a shared one it leaves out the time other processes held the core.", ""]
    out += table(rows, systems, ref, key="cpu")
    out += [""]

    out += ["## Where gradgen is slower than hand-written NumPy", ""]
    slow = slow_rows(rows, ref)
    if slow:
        out += [f"Workloads where gradgen's `value_and_grad` takes more than {SLOW:.2f}× the hand-written "
                "NumPy time (median wall time; then the ratios of the CPU-time medians and of the fastest "
                "samples, both less sensitive to load from other processes). The generated code is listed "
                "at the end of this file.", ""]
        out += [f"- {row['name']}: {ratio:.2f}× (CPU time {cpu:.2f}×, fastest samples {best:.2f}×)"
                for row, ratio, best, cpu in slow]
    else:
        out += [f"None: gradgen is within {SLOW:.2f}× of hand-written NumPy on every workload."]
    refused = [row for row in rows if "gradgen" in row["notes"]]
    for row in refused:
        out += ["", f"gradgen on {row['name']}: `{row['notes']['gradgen']}`"]
    out += [""]

    out += ["## Notes per system", ""]
    for name, reason in run["skipped"].items():
        out.append(f"- **{name}**: skipped, {reason}")
    full_notes = [(row["name"], s, row["notes"][s]) for row in rows for s in systems if s in row["notes"]]
    for wname, s, note in full_notes:
        out.append(f"- **{s}** on {wname}: {note}")
    compile_rows = [(row["name"], row["compile"]["JAX jit"]) for row in rows if "JAX jit" in row["compile"]]
    if compile_rows:
        out += ["", "JAX jit's first call (trace + compile), not included in its median above:", "",
                "| workload | compile |", "|---|---:|"]
        out += [f"| {n} | {_ms(t)} |" for n, t in compile_rows]
    out += [""]

    out += ["## Checks", "",
            "The relative error of the hand-written gradients against central differences; the worst "
            "deviation of any system that passed from the hand-written gradients (relative to each "
            "gradient's largest entry); and the timing spread: the largest interquartile range / median "
            "over the systems' samples.", "",
            "| workload | hand vs central differences | worst deviation (passed) | timing spread |",
            "|---|---:|---:|---:|"]
    for row in rows:
        passed = [v for k, v in row["deviations"].items() if k not in row["notes"]]
        spread = max(row["spread"].values(), default=0.0)
        out.append(f"| {row['name']} | {row['fd_error']:.1e} | {max(passed, default=0.0):.1e} | {spread:.0%} |")
    out += [""]

    out += ["## What `@gradgen.derive` costs", "",
            "In a new process with NumPy imported, `import gradgen` takes "
            f"{_ms(run['cold']['import_seconds'])} and the first `derive` ({run['cold']['function']}), "
            "which also loads the rule templates, "
            f"{_ms(run['cold']['cached'])} with their compiled code in gradgen's cache (every process after "
            f"the first), {_ms(run['cold']['uncached'])} without it. After that, the median of "
            f"{run['gen_repeats']} `derive` calls on a fresh function object:", "",
            "| workload function | generation |", "|---|---:|"]
    seen = set()
    for row in rows:
        if row.get("gen_seconds") is not None and row["function"] not in seen:
            seen.add(row["function"])
            out.append(f"| `{row['function']}` | {_ms(row['gen_seconds'])} |")
    out += ["", "Growth with function size (synthetic straight-line `x = np.tanh(x * w + b)` chains):", "",
            "| statements | generated lines | generation | per statement |", "|---:|---:|---:|---:|"]
    for n, lines, seconds in run["scaling"]:
        out.append(f"| {n} | {lines} | {_ms(seconds)} | {seconds / n * 1e3:.2f} ms |")
    out += [""]

    out += ["## Peak memory of one call", "",
            "tracemalloc's peak during one `value_and_grad` call (NumPy reports its buffers to "
            "tracemalloc), above what was allocated before the call. Only for systems whose arrays are "
            "NumPy's.", ""]
    mem_systems = [s for s in systems if any(s in row["memory"] for row in rows)]
    out += ["| workload | " + " | ".join(mem_systems) + " |", "|---|" + "---:|" * len(mem_systems)]
    for row in rows:
        ref_mem = row["memory"].get(ref)
        cells = []
        for s in mem_systems:
            if s not in row["memory"]:
                cells.append("—")
                continue
            m = row["memory"][s]
            cells.append(_kib(m) + (f" ({m / ref_mem:.2f}×)" if ref_mem else ""))
        out.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    out += [""]

    out += ["## Machine", ""]
    out += [f"- {k}: {v}" for k, v in run["machine"].items()]
    out += [f"- {k}: {v}" for k, v in run["versions"].items()]
    out += [""]

    if slow:
        out += ["## Generated code of the slower workloads", ""]
        shown = set()
        for row, *_ in slow:
            if row["function"] in shown or not row.get("source"):
                continue
            shown.add(row["function"])
            out += [f"<details><summary><code>{row['function']}</code> ({row['name']})</summary>", "",
                    "```python", _function_text(row["source"], row["function"]), "```", "", "</details>", ""]
    return "\n".join(out)


def _function_text(source, name):
    """The generated ``<name>_value_and_grad`` (and helpers it uses) without the module docstring."""
    start = source.find('"""', source.find('"""') + 3) + 3
    end = source.find(f"def {name}_backward")
    return source[start:end if end > 0 else None].strip()


def chart(rows, systems, reference, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [s for s in systems if s != reference]
    names = [row["name"] for row in rows]
    fig, ax = plt.subplots(figsize=(max(10, 1.25 * len(rows)), 5.5))
    width = 0.8 / max(len(others), 1)
    for k, s in enumerate(others):
        xs, ys = [], []
        for i, row in enumerate(rows):
            m = row["medians"]
            if s in m and reference in m:
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(m[s] / m[reference])
        bars = ax.bar(xs, ys, width, label=s)
        for i, row in enumerate(rows):  # no bar: say why, briefly
            if s in row["notes"]:
                word = row["notes"][s].split(":")[0].split()[0].lower()
                ax.text(i - 0.4 + width * (k + 0.5), 1.0, word, rotation=90, fontsize=6, ha="center",
                        va="bottom", color=bars.patches[0].get_facecolor() if bars.patches else "gray")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"time / {reference} time (log scale)")
    ax.set_title("One gradient evaluation (forward + backward), ratio to hand-written NumPy")
    ax.legend(fontsize=8, ncol=3)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine_info(threads) -> dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0]}
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
        info["cpu"] = f"{model}, {os.cpu_count()} logical cores"
    except OSError:
        info["cpu"] = f"{platform.processor() or '?'}, {os.cpu_count()} logical cores"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        info["memory"] = f"{kb / 1024 ** 2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    info["threads"] = (f"{threads} (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, "
                       f"torch.set_num_threads" + (", XLA single-threaded Eigen" if threads == 1 else "") + ")")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    info["BLAS"] = blas_info()
    return info


def cpu_snapshot():
    """(wall seconds, this process's CPU seconds, the machine's busy CPU seconds or None)."""
    busy = None
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return time.perf_counter(), t.user + t.system, busy


def load_summary(start, end) -> str:
    """How busy the machine was with other work while the benchmark ran."""
    wall = end[0] - start[0]
    own = (end[1] - start[1]) / wall
    text = f"this process used {own:.2f} CPUs on average"
    if start[2] is not None and end[2] is not None:
        others = max(0.0, (end[2] - start[2]) / wall - own)
        text += f"; other processes used {others:.2f} of the {os.cpu_count()} CPUs"
    return text + f"; load average at the end {os.getloadavg()[0]:.2f}"


def checkout_state() -> str:
    """Where gradgen was imported from: its git commit, and whether gradgen/ or templates/ had
    local changes then (others may be editing the checkout while benchmarks run)."""
    import gradgen
    root = os.path.dirname(os.path.dirname(os.path.abspath(gradgen.__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "gradgen", "templates"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        head = dirty = ""
    if not head:
        return f"from {root}"
    changed = ", ".join(line[3:] for line in dirty.splitlines())
    return f"commit {head}" + (f", with uncommitted changes to {changed}" if changed else "")


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            return "; ".join(f"{p.get('internal_api')} {p.get('version')} in "
                             f"{os.path.basename(os.path.dirname(p.get('filepath', '')))} "
                             f"({p.get('architecture', '?')} kernel, {p.get('num_threads')} threads)"
                             for p in pools)
    except ImportError:
        pass
    import numpy as np
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        return "?"
