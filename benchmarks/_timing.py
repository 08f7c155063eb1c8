"""What the benchmarks share: medians of interleaved calls after a warm-up."""

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
