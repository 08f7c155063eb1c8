"""``python -m course_lib.grading <command>`` — the instructor's workflow (README.md, "Grading the exercises")."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from course_lib.grading.pipeline import COURSE_ROOT, Course, assignments


def _execution_options(sub: argparse.ArgumentParser) -> None:
    """Where and how student notebooks run (README.md, "Parallel and distributed grading", "The sandbox")."""
    where = sub.add_mutually_exclusive_group()
    where.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="submissions executed at once on this machine (default: the number of cores; 1: serially)",
    )
    where.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786) to execute on")
    sub.add_argument("--memory-mb", type=int, help="memory per student kernel in MiB (default: nbgrader_config.py)")
    sub.add_argument(
        "--processes", type=int, help="processes + threads per student kernel (default: nbgrader_config.py)"
    )
    sub.add_argument("--no-sandbox", action="store_true", help="run student kernels without bubblewrap")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading", description=__doc__)
    parser.add_argument(
        "--grading-dir",
        type=Path,
        default=COURSE_ROOT / "grading",
        help="working folder (default: grading/ in the repository)",
    )
    parser.add_argument("--repo", type=Path, default=COURSE_ROOT, help="the course repository (default: this one)")
    parser.add_argument(
        "--timeout", type=int, default=None, help="seconds per cell while autograding (default: nbgrader_config.py)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("release", help="generate exercises/ from solutions/ (nbgrader generate_assignment)")
    release.add_argument("assignments", nargs="*", help="assignment ids (default: all)")

    for name, text in [
        ("collect", "copy a zip or folder of downloaded notebooks into submitted/"),
        ("grade", "collect, check and repair, autograde, feedback and export in one go"),
    ]:
        sub = commands.add_parser(name, help=text)
        sub.add_argument("assignment")
        sub.add_argument("source", type=Path, help="a .zip file or a folder")
        sub.add_argument("--roster", type=Path, help="CSV with columns file,student_id")
        if name == "grade":
            _execution_options(sub)

    check = commands.add_parser("check", help="check submissions against the release and repair them")
    check.add_argument("assignment")
    check.add_argument("--no-repair", action="store_true", help="only report")

    autograde = commands.add_parser("autograde", help="nbgrader autograde (executions in parallel, sandboxed)")
    autograde.add_argument("assignment")
    autograde.add_argument("--student", action="append", help="only these students (repeatable)")
    _execution_options(autograde)

    feedback = commands.add_parser("feedback", help="nbgrader generate_feedback (HTML per student)")
    feedback.add_argument("assignment")

    export = commands.add_parser("export", help="nbgrader's CSV export of the gradebook")
    export.add_argument("--to", type=Path, help="CSV file (default: <grading-dir>/grades.csv)")

    scores = commands.add_parser("scores", help="print the autograded points per student and test cell")
    scores.add_argument("assignment")
    return parser


def _print_collected(collected) -> int:
    """Files with something to say (renamed, refused, skipped), then one count."""
    problems = 0
    for item in collected:
        if not item.findings:
            continue
        where = item.path.relative_to(item.path.parents[3]) if item.path else "-"
        print(f"{item.source} → {item.student_id or '?'} ({where})")
        for finding in item.findings:
            print(f"    {finding}")
            problems += finding.kind == "problem"
    print(f"collected {sum(item.path is not None for item in collected)} notebook(s)")
    return problems


def _print_reports(reports) -> int:
    for report in reports:
        if report.findings:
            print(report)
    problems = sum(len(r.problems) for r in reports)
    print(
        f"{len(reports)} submission(s): {sum(r.status == 'ok' for r in reports)} ok, "
        f"{sum(r.status == 'repaired' for r in reports)} repaired, {sum(r.status == 'review' for r in reports)} to review, "
        f"{sum(r.status == 'problems' for r in reports)} with problems"
    )
    return problems


def _print_scores(table) -> None:
    """One line per student: points, the test cells that lost points, what waits for a human."""
    for student, row in sorted(table.items()):
        notes = []
        if row["lost"]:
            notes.append(
                "lost: " + ", ".join(f"{c} ({row['cells'][c][0]:g}/{row['cells'][c][1]:g})" for c in row["lost"])
            )
        if row["review"]:
            notes.append(
                f"REVIEW {len(row['review'])} line(s) that change the tools the tests use (see the check report)"
            )
        if row.get("incidents"):
            notes.append("KERNEL DIED, see the autograde report")
        if row["needs_manual"]:
            notes.append(f"to grade by hand: {', '.join(row['needs_manual'])}")
        print(f"{student:20} {row['auto_score']:5.1f} / {row['max_auto']:.1f}" + "".join(f"; {n}" for n in notes))


def _print_graded(results) -> None:
    for result in results:
        if not result.success:
            print(f"FAILED    {result.student_id}: {result.cause}")
        for note in result.incidents:
            print(f"INCIDENT  {result.student_id}: {note}")
    print(f"autograded {sum(r.success for r in results)} of {len(results)} submission(s)")


def _course(args) -> Course:
    options = {}
    if getattr(args, "jobs", None) is not None:
        options.update(jobs=args.jobs, scheduler=args.scheduler, memory_mb=args.memory_mb, processes=args.processes)
        options["sandbox"] = False if args.no_sandbox else None
    return Course(args.grading_dir, args.repo, timeout=args.timeout, **options)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    course = _course(args)
    if args.command == "release":
        for assignment in args.assignments or assignments(course.repo):
            print(f"released {course.release(assignment)}")
        return 0
    if args.command == "collect":
        _print_collected(course.collect(args.assignment, args.source, roster=args.roster))
        return 0
    if args.command == "check":
        _print_reports(course.check(args.assignment, repair=not args.no_repair))
        return 0
    if args.command == "autograde":
        results = course.autograde(args.assignment, args.student)
        _print_graded(results)
        return 0 if all(r.success for r in results) else 1
    if args.command == "feedback":
        print(f"feedback in {course.feedback(args.assignment)}")
        return 0
    if args.command == "export":
        print(f"grades written to {course.export(args.to)}")
        return 0
    if args.command == "scores":
        _print_scores(course.scores(args.assignment))
        return 0
    if args.command == "grade":
        outcome = course.grade(args.assignment, args.source, roster=args.roster)
        _print_collected(outcome["collected"])
        _print_reports(outcome["reports"])
        _print_graded(outcome["graded"])
        _print_scores(outcome["scores"])
        print(f"grades written to {outcome['csv']}; feedback in {course.grading_root / 'feedback'}")
        return 0 if all(r.success for r in outcome["graded"]) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
