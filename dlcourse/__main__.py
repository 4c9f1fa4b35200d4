"""Command line (also ``dlcourse``): ``validate`` for students, ``build`` and ``grade`` for instructors.

Each command imports what it needs only when run, and says how to install it when it is missing.
"""

from __future__ import annotations

import sys

USAGE = """usage: dlcourse validate LAB.ipynb
       dlcourse build [--lab NN-topic ...] [--all] [--check] [--course PATH]
       dlcourse grade LAB [--workers N] [--force] [--student ID ...] [--rerun] [--course PATH]
                          [--scheduler tcp://HOST:8786]

  validate  run a lab top to bottom in a fresh kernel and list every check by name
            (students; comes with python -m pip install -e ".[lab]")
  build     generate labs/ and solutions/ from course/source, the labs that changed
            or that --lab names (instructors; needs python -m pip install -e ".[instructor]")
  grade     grade a lab's new or changed submissions in parallel sandboxes into nbgrader's
            gradebook (instructors; run it from course/; same extra, and bubblewrap)"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "validate":
        from .notebook_check import main as validate_main

        return validate_main(argv[1:])
    if argv[0] == "grade":
        from .instructor.grade import main as grade_main

        return grade_main(argv[1:])
    if argv[0] != "build":
        print(f"dlcourse: unknown command {argv[0]!r}; try `dlcourse --help`", file=sys.stderr)
        return 2
    from .instructor.build import main as build_main

    return build_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
