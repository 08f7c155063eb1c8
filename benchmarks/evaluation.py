"""Cost of the evaluation: the whole scoreboard of lecture 09, and each metric relative to one gradient.

Part 1 runs ``course_lib.scoreboard.score_all()`` (4 ground-truth networks × 13 methods × 11 metrics,
4 inputs each) once, cold — tracing of every method for every network and its randomised copy
included, as in the lecture — and reports its wall time and the CPU time of the process (all
threads). On a busy shared machine the CPU time is the better estimate of the cost on 2 idle cores.

Part 2 times each metric on a batch of MNIST test digits and the shipped network, with the gradient
as the explained map, against one plain gradient ∂S_c/∂x (``course_lib.saliency``), all after one
warm-up call (tracing not counted); medians of ``--repeats`` calls, the metrics taking turns.

    python benchmarks/evaluation.py [--batch 8] [--repeats 3] [--skip-table]
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("COURSE_LIB_OFFLINE", "1")


from _timing import batch_arguments, median_times  # noqa: E402

import course_lib as cl  # noqa: E402
from course_lib import scoreboard  # noqa: E402


def whole_table() -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one cold ``score_all()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    scoreboard.score_all()
    return time.perf_counter() - wall, time.process_time() - cpu


def metric_calls(model, x, targets) -> dict:
    """One call per metric, on the gradient maps of ``x``; the gradient itself is the unit."""
    maps = cl.saliency(model, x, targets)
    randomized = cl.randomized_copy(model)
    mask = cl.clever_hans.watermark_mask()
    return {
        "gradient (unit)": lambda: cl.saliency(model, x, targets),
        "rank correlation": lambda: cl.rank_correlation(maps, maps[..., 0]),
        "relevance mass accuracy": lambda: cl.relevance_mass_accuracy(maps, mask),
        "relevance rank accuracy": lambda: cl.relevance_rank_accuracy(maps, mask),
        "deletion AUC, black (20 steps)": lambda: cl.deletion_auc(model, x, maps, targets, reference="black"),
        "deletion AUC, blur (20 steps)": lambda: cl.deletion_auc(model, x, maps, targets, reference="blur"),
        "insertion AUC, blur (20 steps)": lambda: cl.insertion_auc(model, x, maps, targets),
        "ROAD MoRF (9 fractions)": lambda: cl.road_curve(model, x, maps, targets),
        "model randomisation (one copy)": lambda: cl.model_randomization_score(
            model, x, cl.saliency, targets, randomized=randomized
        ),
        "model randomisation (cascade, 5 layers)": lambda: cl.model_randomization_check(model, x, cl.saliency, targets),
        "max-sensitivity (4 draws)": lambda: cl.max_sensitivity(model, x, cl.saliency, targets, samples=4),
        "completeness error": lambda: cl.completeness_error(model, x, maps, targets),
    }


def main() -> None:
    parser = batch_arguments(__doc__.splitlines()[0], batch=8, repeats=3)
    parser.add_argument("--skip-table", action="store_true", help="only the per-metric ratios")
    args = parser.parse_args()
    print(f"CPU cores visible: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    if not args.skip_table:
        wall, cpu = whole_table()
        print(f"whole scoreboard (4 networks × 13 methods × 11 metrics, cold): {wall:.1f} s wall, {cpu:.1f} s CPU")
    (_, _), (x_test, y_test) = cl.load_mnist(source="bundled", verbose=False)
    model = cl.pretrained("mnist_cnn")
    x, targets = x_test[: args.batch], y_test[: args.batch]
    times = median_times(metric_calls(model, x, targets), args.repeats, clock=time.perf_counter)
    unit = times["gradient (unit)"]
    print(f"\n{args.batch} digits, mnist_cnn; one gradient = {1000 * unit:.1f} ms")
    for name, seconds in times.items():
        print(f"{name:>42}: {1000 * seconds:8.1f} ms = {seconds / unit:7.1f} × gradient")


if __name__ == "__main__":
    main()
