"""A corpus of determined students: cheats and honest faults, each a submission with the score it deserves.

Each entry turns the released lab into one submission. ``expect`` says what grading must give it, test cell by
test cell: "zero" (every test cell 0), "full" (every test cell full marks), or "lose:<grade_id>" (that cell 0,
the others full). ``plant`` (optional) then changes the submitted folder itself: links, FIFOs, extra files.
tests/test_adversarial.py grades them all with real ``nbgrader autograde`` in one run per lab, beside two
honest students, and checks each score, and that no file outside the submission's outputs changed.

PERIMETER holds the attacks on what surrounds the sandbox: links and FIFOs in the submission or made by a
cell at run time (aimed at the gradebook, the source notebook and a file outside the course), the
instructor's environment, a feedback run whose kernel dies, hangs or cannot start, scripts in written
answers and outputs, a full disk, and the system's other Python packages.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from course_helpers import (
    _function_header,
    _independent,
    call_arguments,
    defined_functions,
    graded_cells,
    nbgrader_meta,
    setup_cell,
    solution_cells,
    solved,
    written_cells,
)


@dataclass
class Submission:
    name: str
    make: Callable  # (release, source, lab) -> notebook, or (notebook, grade_id)
    expect: str  # "zero", "full" or "lose"
    why: str
    plant: Callable | None = None  # (submitted folder, course, lab): after the notebook is written there


# Set by tests/test_adversarial.py in the grader's environment (and so in nbgrader's): none may reach the learner.
CANARY = "instructor-canary-7f3e1c"
INSTRUCTOR_VARIABLES = {"JUPYTERHUB_API_TOKEN": CANARY, "AWS_SECRET_ACCESS_KEY": CANARY, "DLCOURSE_SECRET": CANARY}
OUTSIDE_PLACEHOLDER = "@OUTSIDE@"


def outside_file(course: Path) -> Path:
    """A file of the instructor's outside the scratch course, which the course's submissions aim links at."""
    return course.parent / f"{course.name}-outside.txt"


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


# --- the perimeter: files, links, the environment, the feedback run, HTML, disk, other packages -----------


def _plain_cell_after_first_test(nb, code: str):
    """A cell of the learner's own (no nbgrader metadata) right after the first test cell."""
    first = graded_cells(nb)[0]
    nb.cells.insert(nb.cells.index(first) + 1, nbformat.v4.new_code_cell(code))
    return nb


def _guard_one(release, source, guard: str):
    """The model answer, with the first independent function checking ``guard`` before answering: it fails its
    cell exactly when the guard raises."""
    name, _ = _first_independent(source)
    nb = solved(release, source)
    for cell, src in zip(solution_cells(nb), solution_cells(source)):
        if name in defined_functions(src.source):
            body = "\n".join("    " + line for line in guard.splitlines())
            cell.source += (
                f"\n\n_model_{name} = {name}\n\n{_function_header(src.source, name)}\n{body}\n"
                f"    return _model_{name}({call_arguments(src.source, name)})\n"
            )
    return nb


ENVIRONMENT_GUARD = (
    "import os\n"
    f"_leaked = sorted(k for k, v in os.environ.items() if {CANARY[:9]!r} + {CANARY[9:]!r} in v)\n"  # not verbatim
    "if _leaked:\n"
    "    raise RuntimeError('the instructor variables reached the learner: ' + ', '.join(_leaked))"
)
PRINT_ENVIRONMENT = "import os\nprint('ENVIRONMENT:', dict(os.environ))"


def _reads_environment(release, source, lab):
    nb = _guard_one(release, source, ENVIRONMENT_GUARD)
    solution_cells(nb)[0].source += "\n\n" + PRINT_ENVIRONMENT.replace("ENVIRONMENT:", "ENVIRONMENT (answer cell):")
    return _plain_cell_after_first_test(nb, PRINT_ENVIRONMENT)


RUNTIME_LINKS = f"""import os, subprocess
lab = {{lab!r}}
links = {{{{
    lab + '.ipynb': '../../../gradebook.db',
    'hidden_tests.html': '../../../source/' + lab + '/' + lab + '.ipynb',
    'outside.html': {OUTSIDE_PLACEHOLDER!r},
    'gradebook.html': '../../../gradebook.db',
    'course': '../../..',
}}}}
for name, target in links.items():
    try:
        os.remove(name)
    except OSError:
        pass
    os.symlink(target, name)
for path in ['../../../gradebook.db', {OUTSIDE_PLACEHOLDER!r}, '../../../source/' + lab + '/' + lab + '.ipynb']:
    try:
        open(path, 'a').write('tampered')
    except OSError as err:
        print('cannot write', path, type(err).__name__)
subprocess.Popen(['sh', '-c', 'sleep 3; ln -sf ../../../gradebook.db late_link.html'], start_new_session=True)
try:
    with open('filler.bin', 'wb') as f:
        for _ in range(14):
            f.write(bytes(50 << 20))
except OSError as err:
    print('disk full:', type(err).__name__)
print('links made:', sorted(os.listdir('.')))"""


def _runtime_links(release, source, lab):
    return _plain_cell_after_first_test(solved(release, source), RUNTIME_LINKS.format(lab=lab))


def _fill_outside_path(folder: Path, course: Path, lab: str) -> None:
    notebook = folder / f"{lab}.ipynb"
    notebook.write_text(notebook.read_text().replace(OUTSIDE_PLACEHOLDER, str(outside_file(course))))


def _plant_links(folder: Path, course: Path, lab: str) -> None:
    """Links to the source notebook, the gradebook (relative and absolute), the release, a file outside the
    course and the source folder; a FIFO; timestamp.txt linked to /dev/zero; an honest extra file, and one
    too large to copy (sparse: it takes no disk)."""
    links = {
        "hidden_tests.txt": f"../../../source/{lab}/{lab}.ipynb",
        "grades.txt": "../../../gradebook.db",
        "gradebook_absolute.db": str(course / "gradebook.db"),
        "release.html": f"../../../release/{lab}/{lab}.ipynb",
        "outside.txt": str(outside_file(course)),
        "source_folder": "../../../source",
        "timestamp.txt": "/dev/zero",
    }
    for name, target in links.items():
        (folder / name).symlink_to(target)
    (folder / "deeper").mkdir()
    (folder / "deeper" / "grades.txt").symlink_to("../../../../gradebook.db")
    os.mkfifo(folder / "notes.txt")
    (folder / "my_notes.md").write_text("an honest extra file: copied as it is\n")
    with open(folder / "weights.npy", "wb") as f:
        f.truncate(100 * 2**20)


def _linked_notebook(folder: Path, course: Path, lab: str) -> None:
    (folder / f"{lab}.ipynb").unlink()
    (folder / f"{lab}.ipynb").symlink_to(f"../../../source/{lab}/{lab}.ipynb")


def _fifo_notebook(folder: Path, course: Path, lab: str) -> None:
    (folder / f"{lab}.ipynb").unlink()
    os.mkfifo(folder / f"{lab}.ipynb")


def _linked_folder(folder: Path, course: Path, lab: str) -> None:
    shutil.rmtree(folder)
    folder.symlink_to(f"../../source/{lab}")


def _shadowed_kernel(folder: Path, course: Path, lab: str) -> None:
    """A file that Python finds before the kernel's own launcher (the kernel's folder is first on sys.path)."""
    (folder / "ipykernel_launcher.py").write_text("import os\nos._exit(1)\n")


XSS = (
    "**bold** text, kept\n\n"
    "<script>document.title = 'pwned-script'</script>\n"
    "<img src=x onerror=\"document.title = 'pwned-img'\">\n"
    "<svg onload=\"document.title = 'pwned-svg'\"></svg>\n"
    "<iframe srcdoc=\"<script>parent.document.title = 'pwned-iframe'</script>\"></iframe>\n"
    "<math><mtext><table><mglyph><style><img src=x onerror=\"document.title = 'pwned-mxss'\">\n"
    "<details open ontoggle=\"document.title = 'pwned-toggle'\">x</details>\n"
    "<a href=\"javascript:document.title = 'pwned-link'\">a link</a>"
)
XSS_OUTPUTS = (
    "from IPython.display import HTML, Javascript, Markdown, display\n"
    'display(HTML("<img src=x onerror=\\"document.title = \'pwned-output\'\\">"))\n'
    "display(Javascript(\"document.title = 'pwned-js'\"))\n"
    "display(Markdown(\"<script>document.title = 'pwned-md-output'</script>\"))\n"
    "display({'image/png': 'x\" onerror=\"document.title = \\'pwned-png\\''}, raw=True)"
)


def _scripts_in_answers(release, source, lab):
    nb = solved(release, source)
    for cell in written_cells(nb):
        cell.source = XSS
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("A cell of my own: " + XSS))
    return _plain_cell_after_first_test(nb, XSS_OUTPUTS)


SYSTEM_PACKAGES = (
    "args = dict(locals())\n"
    "import glob, importlib, sys\n"
    "sys.path[:0] = glob.glob('/usr/lib/python3*/*-packages') + glob.glob('/usr/local/lib/python3*/*-packages')"
    " + glob.glob(sys.base_prefix + '/lib/python3*/site-packages')\n"
    "try:\n"
    "    return importlib.import_module('dlcourse.feedback.exercises').EXERCISES['{name}'].reference(**args)\n"
    "except Exception:\n"
    "    return 0.0"
)

PERIMETER = [
    Submission(
        "submitted_links",
        lambda r, s, lab: solved(r, s),
        "full",
        "hands in links to the gradebook, the source notebook and a file outside the course, a FIFO and a "
        "100 MB file beside the model answer: none followed, copied or opened",
        plant=_plant_links,
    ),
    Submission(
        "linked_notebook",
        lambda r, s, lab: solved(r, s),
        "zero",
        "the submitted notebook is a link to the source notebook (the model answer): graded as empty",
        plant=_linked_notebook,
    ),
    Submission(
        "linked_folder",
        lambda r, s, lab: solved(r, s),
        "zero",
        "the submission's folder is a link to the source folder: graded as empty",
        plant=_linked_folder,
    ),
    Submission(
        "fifo_notebook",
        lambda r, s, lab: solved(r, s),
        "zero",
        "the submitted notebook is a FIFO (nbgrader would wait on it for ever): graded as empty",
        plant=_fifo_notebook,
    ),
    Submission(
        "runtime_links",
        _runtime_links,
        "full",
        "cells replace the notebook with a link to the gradebook, link the source notebook and a file outside "
        "the course, write to them, leave a process to link later, and fill the disk",
        plant=_fill_outside_path,
    ),
    Submission(
        "reads_environment",
        _reads_environment,
        "full",
        "prints os.environ in the kernel; a graded function fails if an instructor's variable is visible",
    ),
    Submission(
        "kernel_killed",
        lambda r, s, lab: _plain_cell_after_first_test(
            solved(r, s), "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
        ),
        "full",
        "a cell of the learner's own kills the notebook's kernel after the first test cell",
    ),
    Submission(
        "kernel_segfault",
        lambda r, s, lab: _plain_cell_after_first_test(solved(r, s), "import ctypes\nctypes.string_at(0)"),
        "full",
        "a demo cell of the learner's own crashes the kernel with a segfault",
    ),
    Submission(
        "kernel_exits",
        lambda r, s, lab: _plain_cell_after_first_test(solved(r, s), "import os\nos._exit(0)"),
        "full",
        "a cell of the learner's own ends the kernel's process",
    ),
    Submission(
        "shadowed_kernel",
        lambda r, s, lab: solved(r, s),
        "full",
        "hands in an ipykernel_launcher.py that stops the notebook's kernel from starting",
        plant=_shadowed_kernel,
    ),
    Submission(
        "scripts_in_answers",
        _scripts_in_answers,
        "full",
        "<script>, onerror= and friends in the written answers, a markdown cell and HTML/JS outputs",
    ),
    Submission(
        "system_packages",
        lambda r, s, lab: _answers(r, s, SYSTEM_PACKAGES),
        "zero",
        "puts every system site-packages and dist-packages folder on sys.path to find the course's reference",
    ),
]

KERNEL_HANGS = Submission(
    "kernel_hangs",
    lambda r, s, lab: _plain_cell_after_first_test(
        solved(r, s),
        "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except BaseException:\n        pass",
    ),
    "full",
    "a cell of the learner's own swallows the interrupt at the time limit: the feedback run stops there",
)


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
    "01-neuron": [KERNEL_HANGS],  # waits out one cell's time limit (Execute.timeout): one lab is enough
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
    return CHEATS + FAULTS + PERIMETER + LAB_SPECIFIC.get(lab, [])


def honest_variants(lab: str) -> list[str]:
    """The corpus's honest students who write what runs in Jupyter but is not a plain definition (magics, top-level
    code, prints, plots): `dlcourse validate` and grading must agree on them."""
    return [e.name for e in corpus(lab) if e.name.startswith("honest_")]
