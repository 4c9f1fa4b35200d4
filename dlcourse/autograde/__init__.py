"""Grading that holds against a determined student (README, "For instructors").

- ``protocol``: plain data across the sandbox wall (no pickle);
- ``sandbox``: the bubblewrap command lines, limits, and the documented opt-out;
- ``worker``: the learner's side, run in the sandbox: runs the answer cells, calls them on request;
- ``ipython_shim``: answer cells' IPython syntax turned into Python (grader) and a harmless ``get_ipython`` (worker);
- ``remote``: the grader's side of a worker (``LearnerProcess``, ``RemoteFunction``), deadlines and type checks;
- ``served``: the limits on what the learner may ask the grader to compute (the exercises' given helpers);
- ``score``: one test cell scored in the grader against a fresh worker;
- ``preprocessors``: the nbgrader pieces that ``course/nbgrader_config.py`` installs.

Importing this package imports nothing: the worker's view holds an empty copy of it.
"""
