"""Instructor tooling: ``dlcourse build`` makes labs/ and solutions/ from course/source with nbgrader.

Needs the ``[instructor]`` extra (nbgrader, nbformat, nbclient): ``python -m pip install "dlcourse[instructor]"``.
"""
