"""nbgrader configuration for the dlcourse course (run nbgrader commands from this folder).

Each setting below is one an instructor would otherwise learn about from a student's lost marks.
"""
c = get_config()  # noqa: F821 - provided by nbgrader when it reads this file

c.CourseDirectory.course_id = "dlcourse"
c.CourseDirectory.source_directory = "source"

# Every cell runs under a time limit: a learner's infinite loop is interrupted after this many seconds,
# costs that cell's points only, and grading carries on with the next cell. Graded cells take well under
# 5 s and no lab cell needs more than about 15 s on two cores, so 30 s leaves room for a slow machine.
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True

# nbgrader gives zero points to a test cell that wrote anything to stderr, so a numpy or torch warning
# raised while testing a correct answer would cost its marks. After execution, strip every stderr
# stream from the graded notebook; real failures are "error" outputs and still fail the cell.
# (IgnorePattern is off by default: setting the pattern alone does nothing.)
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"

# A test cell that the learner deleted is put back (with a comment saying so) and run, so the points are
# decided by the instructor's tests, not by the learner's edits. Edited test cells are always restored.
c.OverwriteCells.add_missing_cells = True

# What a learner sees in place of each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Keep feedback readable when a learner prints in a loop.
c.LimitOutput.max_lines = 200
