"""Measuring a benchmark step: each in a fresh interpreter (a job), so a peak is that step's alone.

A job is `python -m <module> <job> <json arguments>`; its answer is one line of JSON, the last of
its output. `measured()` gives the wall time (perf_counter) of a block and the growth of peak RSS
over the RSS just before it (the kernel's peak is reset there where Linux allows it).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def progress(message: str) -> None:
    """A benchmark's progress line, on stderr (stdout carries a job's answer)."""
    print(message, file=sys.stderr, flush=True)


def _status_kib(name: str) -> int | None:
    """One memory figure of this process from /proc/self/status (Linux), in KiB."""
    try:
        with Path("/proc/self/status").open() as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_kib() -> int:
    """This process's peak RSS: VmHWM where there is one. ru_maxrss also counts the peak of
    the process that started this one (Linux carries it across fork and exec), so a job
    started by a large parent would report the parent's size."""
    peak = _status_kib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_kib() -> int:
    now = _status_kib("VmRSS")
    return now if now is not None else peak_kib()


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux: clear_refs 5), so the peak
    read after a step is that step's own and not an earlier one's (reading data, say)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def measured() -> Iterator[dict[str, Any]]:
    """Wall time and peak-RSS growth of the block; the numbers land in the yielded dict."""
    gc.collect()
    reset = reset_peak()
    before = rss_kib()
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    yield figures
    figures["seconds"] = time.perf_counter() - started
    peak = peak_kib()
    figures["peak_mib"] = max(peak - before, 0) / 1024
    figures["rss_before_mib"] = before / 1024
    figures["max_rss_mib"] = peak / 1024
    figures["peak_reset"] = reset


def run_job(
    module: str, job: str, arguments: Mapping[str, Any], threads: int | None = None
) -> dict[str, Any]:
    """One job in a fresh interpreter; its answer is the JSON on its last line of output.
    `threads` caps the BLAS / OpenMP threads (for jobs that share the machine)."""
    python_path = [str(ROOT / "layers" / "drift"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    environment = os.environ | {
        "PYTHONPATH": os.pathsep.join(p for p in python_path if p),
        "DO_NOT_TRACK": "1",  # Evidently's usage telemetry: off
        "EVIDENTLY_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",
    }
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            environment[name] = str(threads)
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own module
        [sys.executable, "-m", module, job, json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"{module} {job} failed:\n{done.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def start_job(module: str, job: str, arguments: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
    """run_job in the background with one BLAS thread (for jobs that are not timed); call
    the result to wait for its answer."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(run_job, module, job, arguments, 1)
    pool.shutdown(wait=False)
    return future.result


Job = Callable[[Mapping[str, Any]], dict[str, Any]]


def serve(jobs: Mapping[str, Job], argv: Sequence[str]) -> int:
    """Run one job of a module, `python -m <module> <job> <json arguments>`: the answer is
    printed as one line of JSON, the last of the output (run_job reads it there)."""
    job, arguments = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    if job not in jobs:
        raise SystemExit(f"unknown job {job!r}; jobs: {', '.join(jobs)}")
    print(json.dumps(jobs[job](arguments)))
    return 0
