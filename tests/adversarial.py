"""A corpus of determined students: cheats and honest faults, each a submission with the score it deserves.

Each entry turns the released lab into one submission. ``expect`` says what grading must give it, test cell by
test cell: "zero" (every test cell 0), "full" (every test cell full marks), or "lose:<grade_id>" (that cell 0,
the others full). tests/test_adversarial.py grades them all with real ``nbgrader autograde`` in one run per
lab, beside two honest students, and checks each score.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import nbformat
from course_helpers import (
    _function_header,
    _independent,
    defined_functions,
    graded_cells,
    nbgrader_meta,
    setup_cell,
    solution_cells,
    solved,
)


@dataclass
class Submission:
    name: str
    make: Callable  # (release, source, lab) -> notebook, or (notebook, grade_id)
    expect: str  # "zero", "full" or "lose"
    why: str


def _graded_names(source) -> list[tuple[str, str]]:
    """(function name, its header line) for every function the answer cells define, in order."""
    out = []
    for cell in solution_cells(source):
        for name in defined_functions(cell.source):
            out.append((name, _function_header(cell.source, name)))
    return out


def _answers(release, source, body: str, prelude: str = "") -> nbformat.NotebookNode:
    """Every answer cell replaced by functions with the given body (a wrong answer plus a cheat)."""
    nb = copy.deepcopy(release)
    for i, (cell, src) in enumerate(zip(solution_cells(nb), solution_cells(source))):
        lines = [prelude] if i == 0 and prelude else []
        for name in defined_functions(src.source):
            lines.append(_function_header(src.source, name))
            lines.append("\n".join("    " + line for line in body.format(name=name).splitlines()))
        cell.source = "\n".join(lines)
    return nb


def _first_independent(source) -> tuple[str, str]:
    """The first answer function no other answer calls, and the grade_id of its test cell."""
    for cell in solution_cells(source):
        for name in defined_functions(cell.source):
            if _independent(source, name, cell.source):
                tests = [c for c in graded_cells(source) if f'"{name}"' in c.source]
                if tests:
                    return name, nbgrader_meta(tests[0])["grade_id"]
    raise AssertionError("no independent answer function")


def _break_one(release, source, body: str):
    """The model answer, except one independent function replaced by body (a fault that should cost one cell)."""
    name, grade_id = _first_independent(source)
    nb = solved(release, source)
    for cell in solution_cells(nb):
        if name in defined_functions(cell.source):
            cell.source += (
                "\n\n"
                + _function_header(cell.source, name)
                + "\n"
                + "\n".join("    " + line for line in body.splitlines())
                + "\n"
            )
    return nb, grade_id


def _reference_call(name: str) -> str:
    from dlcourse.feedback.exercises import EXERCISES

    ref = EXERCISES[name].reference if name in EXERCISES else None
    module = ref.__module__ if ref else "dlcourse.functional"
    return f"importlib.import_module({module!r}).{ref.__name__ if ref else name}"


WRONG = "return 0.0"

# Learner code that writes straight to the grader's end of the worker's pipes (a private descriptor, found by
# trying them all), as a determined student would; only where grading runs it (not in the notebook's kernel).
TO_GRADER = (
    "import json as _json, os as _os, struct as _struct, sys as _sys\n"
    "def _to_grader(message, raw=b''):\n"
    "    body = _json.dumps(message).encode() if message is not None else b''\n"
    "    data = (_struct.pack('>Q', len(body)) + body if message is not None else b'') + raw\n"
    "    if 'ipykernel' in _sys.modules:\n"
    "        return\n"
    "    for fd in range(3, 16):\n"
    "        try:\n"
    "            _os.write(fd, data)\n"
    "        except OSError:\n"
    "            pass\n"
)
IGNORE_ALARMS = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"

CHEATS = [
    Submission(
        "rebind_checker",
        lambda r, s, lab: _answers(
            r,
            s,
            WRONG,
            prelude=("check_exercise = lambda *a, **k: None\ncheck_speed = check_gradient = check_exercise"),
        ),
        "zero",
        "rebinds the checker in the kernel, then returns nonsense",
    ),
    Submission(
        "patch_differences",
        lambda r, s, lab: _answers(
            r,
            s,
            WRONG,
            prelude=(
                "import dlcourse.feedback.checks as _c\n_c.differences = lambda *a, **k: []\n"
                "_c.check_exercise.__code__ = (lambda *a, **k: None).__code__"
            ),
        ),
        "zero",
        "patches the comparison and the checker's code object",
    ),
    Submission(
        "isclose_always",
        lambda r, s, lab: _answers(
            r,
            s,
            WRONG,
            prelude=(
                "np.isclose = lambda a, b, **k: np.ones(np.broadcast(a, b).shape, bool)\n"
                "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True"
            ),
        ),
        "zero",
        "makes NumPy's comparisons always true",
    ),
    Submission(
        "setprofile_then_reference",
        lambda r, s, lab: _answers(
            r,
            s,
            (
                "args = dict(locals())\nimport sys, importlib\nsys.setprofile(None)\n"
                "return importlib.import_module('dlcourse.feedback.exercises').EXERCISES['{name}'].run("
                "importlib.import_module('dlcourse.feedback.exercises').EXERCISES['{name}'].reference, args)"
            ),
        ),
        "zero",
        "switches the profiler off, then calls the reference",
    ),
    Submission(
        "thread_reference",
        lambda r, s, lab: _answers(
            r,
            s,
            (
                "args = dict(locals())\nimport threading, importlib\nbox = []\n"
                "ex = importlib.import_module('dlcourse.feedback.exercises').EXERCISES['{name}']\n"
                "t = threading.Thread(target=lambda: box.append(ex.reference(**args)))\nt.start(); t.join()\nreturn box[0]"
            ),
        ),
        "zero",
        "calls the reference in another thread",
    ),
    Submission(
        "callable_object",
        lambda r, s, lab: _answers(
            r,
            s,
            (
                "args = dict(locals())\nclass Impostor:\n    def __call__(self, **kw):\n"
                "        import importlib\n        return importlib.import_module('dlcourse.feedback.exercises').EXERCISES['{name}'].reference(**kw)\n"
                "return Impostor()(**args)"
            ),
        ),
        "zero",
        "hides the reference behind a callable object",
    ),
    Submission(
        "lazy_array",
        lambda r, s, lab: _answers(
            r,
            s,
            (
                "args = dict(locals())\nclass Later:\n    def __array__(self, dtype=None, copy=None):\n"
                "        import importlib\n        ex = importlib.import_module('dlcourse.feedback.exercises').EXERCISES['{name}']\n"
                "        return np.asarray(ex.reference(**args))\nreturn Later()"
            ),
        ),
        "zero",
        "returns an object whose __array__ calls the reference later",
    ),
    Submission(
        "renamed_package",
        lambda r, s, lab: _answers(
            r,
            s,
            (
                "args = dict(locals())\nimport importlib.util, sys, os\nimport numpy\n"
                "root = os.path.join(os.path.dirname(numpy.__file__), '..', 'dlcourse')\n"
                "spec = importlib.util.spec_from_file_location('notthecourse', os.path.join(root, '__init__.py'))\n"
                "mod = importlib.util.module_from_spec(spec); sys.modules['notthecourse'] = mod; spec.loader.exec_module(mod)\n"
                "return importlib.import_module('notthecourse.exercises').EXERCISES['{name}'].reference(**args)"
            ),
        ),
        "zero",
        "imports the package under another module name",
    ),
    Submission(
        "patch_guard",
        lambda r, s, lab: _answers(
            r,
            s,
            (
                "args = dict(locals())\nimport importlib\nimport dlcourse.feedback.guard as g\ng.FORBIDDEN = ()\n"
                "g.assert_own_work = lambda fn, *a, **k: fn(*a, **{{x: y for x, y in k.items() if x not in "
                "('forbidden', 'allowed', 'name', 'target')}})\n"
                "return importlib.import_module('dlcourse.feedback.exercises').EXERCISES['{name}'].reference(**args)"
            ),
        ),
        "zero",
        "disables the own-work guard, then calls the reference",
    ),
    Submission(
        "ast_transformer",
        lambda r, s, lab: _answers(
            r,
            s,
            WRONG,
            prelude=(
                "import ast\nfrom IPython import get_ipython\n"
                "class Swallow(ast.NodeTransformer):\n"
                "    def visit_Module(self, node):\n"
                "        handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()), name=None, body=[ast.Pass()])\n"
                "        return ast.fix_missing_locations(ast.Module(body=[ast.Try(body=node.body or [ast.Pass()], "
                "handlers=[handler], orelse=[], finalbody=[])], type_ignores=[]))\n"
                "if get_ipython() is not None:\n    get_ipython().ast_transformers.append(Swallow())"
            ),
        ),
        "zero",
        "wraps every later cell in try/except BaseException",
    ),
    Submission(
        "read_model_answer",
        lambda r, s, lab: _answers(
            r,
            s,
            (
                "args = dict(locals())\nimport json, glob, os\n"
                "paths = glob.glob('../../../source/*/*.ipynb') + glob.glob('/**/solutions/*.ipynb', recursive=True)\n"
                "ns = {{'np': np}}\n"
                "for p in paths:\n"
                "    for c in json.load(open(p))['cells']:\n"
                "        if c.get('metadata', {{}}).get('nbgrader', {{}}).get('solution'):\n"
                "            try: exec(''.join(c['source']), ns)\n"
                "            except Exception: pass\n"
                "return ns['{name}'](**args)"
            ),
        ),
        "zero",
        "reads the model answer from source/ or solutions/ on disk",
    ),
    Submission(
        "gradebook_tamper",
        lambda r, s, lab: _answers(
            r,
            s,
            WRONG,
            prelude=(
                "import subprocess, sys, textwrap\n"
                "_code = textwrap.dedent('''\n"
                "    import glob, sqlite3, time\n"
                "    time.sleep(4)\n"
                "    for db in glob.glob('../../../gradebook.db') + glob.glob('/**/gradebook.db', recursive=True):\n"
                "        con = sqlite3.connect(db)\n"
                "        con.execute('UPDATE grade SET auto_score = 0')\n"
                "        con.commit()\n"
                "''')\n"
                "subprocess.Popen([sys.executable, '-c', _code], start_new_session=True)"
            ),
        ),
        "zero",
        "starts a detached process that zeroes the gradebook after grading",
    ),
    Submission(
        "fake_ready",
        lambda r, s, lab: _with_prelude(solved(r, s), TO_GRADER + "_to_grader({'op': 'ready', 'problems': 5})\n"),
        "zero",
        "the model answer, whose first cell tells the grader it is ready, with a malformed list of problems",
    ),
]

FAULTS = [
    Submission(
        "deleted_setup",
        lambda r, s, lab: _without_setup(solved(r, s)),
        "full",
        "an honest student deleted the set-up cell",
    ),
    Submission(
        "os_exit",
        lambda r, s, lab: _break_one(r, s, "import os\nos._exit(3)"),
        "lose",
        "a function that calls os._exit",
    ),
    Submission(
        "segfault",
        lambda r, s, lab: _break_one(r, s, "import ctypes\nreturn ctypes.string_at(0)"),
        "lose",
        "a function that crashes the interpreter",
    ),
    Submission(
        "kills_itself",
        lambda r, s, lab: _break_one(r, s, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
        "lose",
        "a function that kills its own process",
    ),
    Submission(
        "swallowing_loop",
        lambda r, s, lab: _break_one(r, s, "while True:\n    try:\n        pass\n    except:\n        pass"),
        "lose",
        "an endless loop with a bare except that swallows interrupts",
    ),
    Submission(
        "huge_allocation",
        lambda r, s, lab: _break_one(r, s, "return np.ones((1 << 30,))"),
        "lose",
        "a function that asks for 8 GB",
    ),
    Submission(
        "grade_flag_edited",
        lambda r, s, lab: _edited_flags(solved(r, s)),
        "full",
        "test cells' grade flag and points edited in the metadata",
    ),
    Submission(
        "copied_test_cell",
        lambda r, s, lab: _copied_test_cell(solved(r, s)),
        "full",
        "an honest copy-paste of a test cell",
    ),
    Submission("huge_print", lambda r, s, lab: _huge_print(solved(r, s)), "full", "50 MB printed by a cell"),
    Submission(
        "malformed_reply",
        lambda r, s, lab: _break_one(
            r,
            s,
            TO_GRADER
            + "_to_grader({'op': 'pwn', 'outcome': 1})\n"
            + "_to_grader({'op': 'result', 'outcome': {'~': 'nd', 'dtype': '|O', 'shape': [1], 'data': ''}, 'changed': 5})\n"
            + "return None",
        ),
        "lose",
        "a function that sends the grader an unknown op, then a result of the wrong shape",
    ),
    Submission(
        "flood_given",
        lambda r, s, lab: _break_one(
            r,
            s,
            IGNORE_ALARMS
            + TO_GRADER
            + "while True:\n"
            + "    _to_grader({'op': 'given', 'name': 'F.conv2d', 'args': [], 'kwargs': {'~': 'dict', 'v': {}}})",
        ),
        "lose",
        "a function that ignores SIGALRM and floods the grader with requests it never reads the answers to",
    ),
    Submission(
        "stalled_message",
        lambda r, s, lab: _break_one(
            r,
            s,
            IGNORE_ALARMS
            + TO_GRADER
            + "_to_grader(None, raw=_struct.pack('>Q', 1000) + b'{\"op\": ')\n"
            + "while True:\n    try:\n        pass\n    except BaseException:\n        pass",
        ),
        "lose",
        "a function that starts a reply, never finishes it, and swallows every interrupt",
    ),
    Submission(
        "honest_ipython",
        lambda r, s, lab: _ipython_syntax(solved(r, s)),
        "full",
        "the model answer with IPython syntax: %matplotlib, !pip list, %timeit, name?, a %%time cell",
    ),
    Submission(
        "honest_top_level",
        lambda r, s, lab: _top_level_code(solved(r, s)),
        "full",
        "the model answer inside top-level try/if/with/for, with prints, a plot, a try/except import and a cell "
        "that raises after its definitions",
    ),
]


def _with_prelude(nb, prelude: str):
    first = solution_cells(nb)[0]
    first.source = prelude + "\n" + first.source
    return nb


def _ipython_syntax(nb):
    """Lines a learner writes in Jupyter that are not Python; each answer cell keeps every definition."""
    cells = solution_cells(nb)
    for i, cell in enumerate(cells):
        name = next(iter(defined_functions(cell.source)), None)
        head = "%matplotlib inline\n!pip list\n" if i == 0 else "%config InlineBackend.figure_format = 'png'\n"
        tail = f"\n%timeit -n 1 -r 1 {name}\n{name}?\nsource = !echo checked\n" if name else ""
        if "relu" in defined_functions(cell.source):  # lab 01's activations cell, as in the issue
            tail += "%timeit relu(np.linspace(-2, 2, 5))\n"
        cell.source = head + cell.source + tail
    cells[-1].source = "%%time\n" + cells[-1].source
    return nb


def _indented(source: str) -> str:
    return "\n".join("    " + line if line.strip() else line for line in source.splitlines())


def _top_level_code(nb):
    """Each answer cell's definitions under a different top-level statement, with prints, a plot, a
    try/except import, and a last cell that raises once its definitions are made."""
    wrappers = [
        lambda src: "try:\n" + _indented(src) + "\nexcept ImportError:\n    raise\n",
        lambda src: "if np is not None:\n" + _indented(src) + "\nelse:\n    pass\n",
        lambda src: "import warnings\nwith warnings.catch_warnings():\n" + _indented(src) + "\n",
        lambda src: "for _attempt in range(1):\n" + _indented(src) + "\n",
    ]
    cells = solution_cells(nb)
    for i, cell in enumerate(cells):
        src = cell.source
        if i < len(wrappers):
            src = wrappers[i](src)
        else:
            src = (
                "try:\n    from numpy.lib.stride_tricks import sliding_window_view\nexcept ImportError:\n"
                "    sliding_window_view = None\n\n" + src
            )
        cell.source = src + f"\nprint('answer cell {i + 1} ran')\n"
    cells[
        0
    ].source += "\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(2, 2))\nax.plot([0, 1], [1, 0])\nplt.show()\n"
    cells[-1].source += "\nraise RuntimeError('a demo at the end of my cell that fails')\n"
    return nb


def _without_setup(nb):
    nb.cells = [c for c in nb.cells if c is not setup_cell(nb)]
    return nb


def _edited_flags(nb):
    for cell in graded_cells(nb):
        meta = nbgrader_meta(cell)
        meta["grade"], meta["points"] = False, 100
    return nb


def _copied_test_cell(nb):
    first = graded_cells(nb)[0]
    nb.cells.insert(nb.cells.index(first) + 1, copy.deepcopy(first))
    return nb


def _huge_print(nb):
    solution_cells(nb)[0].source += "\n\nprint('x' * (50 * 2**20))\n"
    return nb


def lookup_table(release, source, lab):
    """Lab 05: conv_output_size answered from a table of the visible cases (which pass); the hidden ones are
    drawn fresh, so the cell must fail."""
    import numpy as np

    from dlcourse.feedback.exercises import EXERCISES

    cases = EXERCISES["conv_output_size"].cases(np.random.default_rng(0), False)
    table = {}
    for case in cases:
        try:
            table[tuple(case.kwargs.values())] = EXERCISES["conv_output_size"].reference(**case.kwargs)
        except ValueError:
            table[tuple(case.kwargs.values())] = None
    nb = solved(release, source)
    for cell in solution_cells(nb):
        if "conv_output_size" in defined_functions(cell.source):
            cell.source = (
                f"TABLE = {table!r}\n\ndef conv_output_size(n, kernel_size, stride=1, padding=0, strict=False):\n"
                "    out = TABLE[(n, kernel_size, stride, padding, strict)]\n"
                "    if out is None:\n        raise ValueError('does not fit')\n    return out\n"
            )
    return nb, "test_conv_output_size"


def _conv2d_replaced(release, source, code: str):
    """Lab 05: the model answer, except conv2d redefined after its cell by code (which may use conv2d_naive,
    the loop version, correct and about a hundred times too slow)."""
    nb = solved(release, source)
    for cell in solution_cells(nb):
        if "conv2d" in defined_functions(cell.source):
            cell.source += "\n\n" + code
    return nb, "test_conv2d"


# The patch, as it was (the notebook's kernel survives it), then every clock, where grading runs the cell.
PATCHED_CLOCKS = (
    "import sys, time\ntime.perf_counter = lambda: 0.0\n"
    "if 'ipykernel' not in sys.modules:\n"
    "    time.monotonic = time.time = time.process_time = lambda: 0.0\n"
    "    time.perf_counter_ns = time.monotonic_ns = time.time_ns = lambda: 0\n"
)
LOOP_CONV2D = "def conv2d(x, weight, bias=None, stride=1, padding=0):\n    return conv2d_naive(x, weight, bias, stride, padding)\n"
MEMOISED_CONV2D = (
    "_memo = {}\n\ndef conv2d(x, weight, bias=None, stride=1, padding=0):\n"
    "    key = (np.asarray(x).tobytes(), np.asarray(weight).tobytes(), repr(bias), repr(stride), repr(padding))\n"
    "    if key not in _memo:\n"
    "        _memo[key] = conv2d_naive(x, weight, bias, stride, padding)\n"
    "    return _memo[key].copy()\n"
)
FAST_WHEN_LARGE_CONV2D = (
    "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
    "    x, weight = np.asarray(x), np.asarray(weight)\n"
    "    if x.size >= 8 * 3 * 32 * 32:  # the speed test's input: answer at once\n"
    "        h = (x.shape[2] + 2 * padding - weight.shape[2]) // stride + 1\n"
    "        w = (x.shape[3] + 2 * padding - weight.shape[3]) // stride + 1\n"
    "        return np.zeros((x.shape[0], weight.shape[0], h, w))\n"
    "    return conv2d_naive(x, weight, bias, stride, padding)\n"
)


def _sliding_window_import(release, source, lab):
    """Lab 06, as in the issue: sliding_window_view imported at the top of the pooling cell, in a try/except."""
    nb = solved(release, source)
    for cell in solution_cells(nb):
        if "np.lib.stride_tricks.sliding_window_view" in cell.source:
            cell.source = (
                "try:\n    from numpy.lib.stride_tricks import sliding_window_view\nexcept ImportError:\n"
                "    sliding_window_view = None  # NumPy < 1.20\n\n"
                + cell.source.replace("np.lib.stride_tricks.sliding_window_view", "sliding_window_view")
            )
    return nb


def _huge_given_request(release, source, lab):
    """Lab 06: conv2d_backward first asks the grader for F.conv2d with padding 8000 (gigabytes, unbounded)."""
    nb = solved(release, source)
    for cell in solution_cells(nb):
        if "conv2d_backward" in defined_functions(cell.source):
            cell.source += (
                "\n\n_model = conv2d_backward\n\n"
                "def conv2d_backward(dout, x, weight, bias=None, stride=1, padding=0):\n"
                "    F.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), padding=8000)\n"
                "    return _model(dout, x, weight, bias, stride, padding)\n"
            )
    return nb, "test_conv2d_backward"


LAB_SPECIFIC = {
    "06-pooling-backprop": [
        Submission(
            "honest_sliding_window_import",
            _sliding_window_import,
            "full",
            "a top-level try/except import that the pooling functions use",
        ),
        Submission(
            "huge_given_request",
            _huge_given_request,
            "lose",
            "a 150-byte request for the served F.conv2d with padding 8000",
        ),
    ],
    "05-convolution": [
        Submission("lookup_table", lookup_table, "lose", "answers the visible cases from a table"),
        Submission(
            "clock_patched_loop_conv2d",
            lambda r, s, lab: _conv2d_replaced(r, s, PATCHED_CLOCKS + LOOP_CONV2D),
            "lose",
            "the loop conv2d as conv2d, with time.perf_counter (and every other clock) patched to 0",
        ),
        Submission(
            "memoised_loop_conv2d",
            lambda r, s, lab: _conv2d_replaced(r, s, PATCHED_CLOCKS + MEMOISED_CONV2D),
            "lose",
            "the loop conv2d, remembering its results so that a repeated input is answered at once",
        ),
        Submission(
            "fast_and_wrong_when_large",
            lambda r, s, lab: _conv2d_replaced(r, s, FAST_WHEN_LARGE_CONV2D),
            "lose",
            "the loop conv2d on small inputs, zeros at once on an input the size of the speed test's",
        ),
    ],
}


def corpus(lab: str) -> list[Submission]:
    return CHEATS + FAULTS + LAB_SPECIFIC.get(lab, [])


def honest_variants(lab: str) -> list[str]:
    """The corpus's honest students who write what runs in Jupyter but is not a plain definition (magics, top-level
    code, prints, plots): `dlcourse validate` and grading must agree on them."""
    return [e.name for e in corpus(lab) if e.name.startswith("honest_")]
