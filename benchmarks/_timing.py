"""What the benchmarks share: medians of interleaved calls after a warm-up.

The benchmarks that use it run numpy's BLAS (OpenBLAS) on one thread, by setting
``OPENBLAS_NUM_THREADS=1`` before numpy is imported. After a BLAS call, OpenBLAS's worker threads
keep spinning for a fraction of a second. On a small machine they take the cores from whatever runs
next, and that call then looks slower than it is: on 2 cores, the ``np.tensordot`` at the end of
``occlusion`` made LRP-ε, timed a few calls later, cost 1.8–2.1× a gradient instead of 1.1–1.2×.
The course's numpy work is small, and TensorFlow has thread pools of its own, which this setting
leaves alone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def median_times(calls: dict, repeats: int, clock=time.process_time) -> dict:
    """Median seconds per call of each of ``calls`` (name → no-argument function).

    Every call runs once first (warm-up: traces the ``tf.function``s), then the calls take turns
    ``repeats`` times, so a change of machine load affects all of them alike. ``clock``:
    ``time.process_time`` (CPU time of all threads of this process — on a machine shared with other
    jobs the wall clock mostly measures the others) or ``time.perf_counter`` (wall time).
    """
    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = clock()
            call()
            times[name].append(clock() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def batch_arguments(description: str, *, batch: int, repeats: int) -> argparse.ArgumentParser:
    """A command line with the options every timing benchmark has: ``--batch`` (MNIST test digits
    per call) and ``--repeats`` (timed calls of each method)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--batch", type=int, default=batch, help=f"MNIST test digits per call (default {batch})")
    parser.add_argument("--repeats", type=int, default=repeats, help=f"timed calls of each method (default {repeats})")
    return parser
