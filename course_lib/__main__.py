"""Command line of course_lib: ``python -m course_lib train NAME``."""

import argparse
import json
import sys

import course_lib  # noqa: F401  (quiet TensorFlow first)
from course_lib import models


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a course model and overwrite its shipped weights")
    train.add_argument("name", choices=sorted(models.ARCHITECTURES))
    train.add_argument("--no-save", action="store_true", help="train and report, but keep the shipped weights")
    args = parser.parse_args(argv)
    _, card = models.train(args.name, save=not args.no_save)
    print(json.dumps(card, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
