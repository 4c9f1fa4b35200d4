"""Feedback for learners and the exercises it checks.

- ``checks``: ``check_exercise``, ``check_speed``, ``check_gradient``: run a learner's function against the
  reference and say precisely what is wrong;
- ``exercises``: one module per lab declaring its graded exercises, their test cases and their known mistakes;
- ``guard``: the own-work guard, a courtesy in the learner's kernel (grading itself runs out of reach:
  ``dlcourse.autograde``).
"""

from .checks import CheckFailed, check_exercise, check_gradient, check_speed, working_functions

__all__ = ["CheckFailed", "check_exercise", "check_gradient", "check_speed", "working_functions"]
