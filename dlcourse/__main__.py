"""Command line: ``python -m dlcourse build [--check] [labs...]`` (also installed as ``dlcourse``)."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: dlcourse build [--check] [labs ...]\n\n  build   generate labs/ and solutions/ from course/source")
        return 0 if argv else 2
    if argv[0] != "build":
        print(f"dlcourse: unknown command {argv[0]!r}; try `dlcourse build --help`", file=sys.stderr)
        return 2
    from .build import main as build_main

    return build_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
