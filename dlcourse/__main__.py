"""Command line: ``python -m dlcourse build [--check] [--course PATH] [labs...]`` (also ``dlcourse``).

Students never need it; it imports the instructor's tools only when run, and says how to install them.
"""

from __future__ import annotations

import sys

USAGE = """usage: dlcourse build [--check] [--course PATH] [labs ...]

  build   generate labs/ and solutions/ from course/source (instructors; needs
          python -m pip install -e ".[instructor]")"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] != "build":
        print(f"dlcourse: unknown command {argv[0]!r}; try `dlcourse build --help`", file=sys.stderr)
        return 2
    from .instructor.build import main as build_main

    return build_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
