"""Command line of course_lib.

python -m course_lib train NAME                        retrain a course model, overwrite its weights
python -m course_lib adopt OWNER/REPO [--branch B]     move the course to another GitHub repository
python -m course_lib student-edition DIR [--adopt OWNER/REPO] [--branch B]
                                                       write the course without solutions/ to DIR
"""

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a course model and overwrite its shipped weights")
    train.add_argument("name", help="mnist_cnn or ising_cnn")
    train.add_argument("--no-save", action="store_true", help="train and report, but keep the shipped weights")
    adopt = commands.add_parser(
        "adopt", help="point course.py, every badge and set-up cell and the README at another GitHub repository"
    )
    adopt.add_argument("repository", metavar="OWNER/REPO")
    adopt.add_argument("--branch", default="main", help="the branch Colab opens and installs from (default: main)")
    edition = commands.add_parser("student-edition", help="write the course without solutions/ to a new folder")
    edition.add_argument("target", type=Path, metavar="DIR")
    edition.add_argument("--adopt", metavar="OWNER/REPO", help="also point the copy at its public repository")
    edition.add_argument("--branch", default="main", help="the public repository's branch (default: main)")
    args = parser.parse_args(argv)

    from course_lib import course

    try:
        if args.command == "adopt":
            changed = course.adopt(args.repository, args.branch, root=Path.cwd())
            print(
                f"{len(changed)} files now point at github.com/{args.repository} ({args.branch}); review and commit them"
            )
        elif args.command == "student-edition":
            copied = course.write_student_edition(
                args.target, root=Path.cwd(), repository=args.adopt, branch=args.branch
            )
            print(f"student edition: {len(copied)} files in {args.target} (no solutions/)")
        else:
            import course_lib  # noqa: F401  (quiet TensorFlow first)
            from course_lib import models

            if args.name not in models.ARCHITECTURES:
                parser.error(f"unknown model {args.name!r}; choose one of {sorted(models.ARCHITECTURES)}")
            _, card = models.train(args.name, save=not args.no_save)
            print(json.dumps(card, indent=2))
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
