"""Grading that holds against a determined student (README, "For instructors").

- ``protocol``: plain data across the sandbox wall (no pickle);
- ``sandbox``: the bubblewrap command lines, limits, and the documented opt-out;
- ``worker``: the learner's side, run in the sandbox: defines the answer cells, calls them on request;
- ``remote``: the grader's side of a worker (``LearnerProcess``, ``RemoteFunction``);
- ``score``: one test cell scored in the grader against a fresh worker;
- ``preprocessors``: the nbgrader pieces that ``course/nbgrader_config.py`` installs.

Importing this package imports nothing: the worker's view holds an empty copy of it.
"""
