"""Bubblewrap sandboxes for the learner's code: what it may see, what it may write, how much it may use.

Two kinds of process run a learner's code while grading:

- the *worker* (``worker_command``) that the grader calls the learner's functions in. It sees the operating
  system and the Python runtime read-only, NumPy (plus what an exercise adds), and a small copy of the
  course's harness that holds no reference answer; not the course package, not torch, not the course folder.
  Every folder of installed packages that the mounted system paths hold (Debian's dist-packages, the base
  interpreter's site-packages) is covered by an empty tmpfs, so ``sys.path`` tricks find nothing there.
- the *notebook kernel* (``kernel_command``) that runs the submission top to bottom so that feedback shows
  its outputs. It sees the installed packages read-only and a read-only copy of the submission's files,
  which it copies into its own working folder on the private /tmp; it writes nothing the grader reads. Its
  results decide no points.

Both have no network, a private /tmp of a fixed size (everything they can write, all files together),
their own process namespace (every process they start dies with them), a memory limit, a CPU-time limit,
and an environment of the grader's choosing (``learner_environment``): none of the instructor's variables.
``DLCOURSE_UNSANDBOXED=1`` runs them without bubblewrap, for machines that cannot run it; the environment is
still cleared, but the learner's code can read and write anything the instructor can, and grades are not
safe.
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import re
import shutil
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

UNSANDBOXED_VARIABLE = "DLCOURSE_UNSANDBOXED"
INSTALL_HINT = (
    "grading runs each submission in a bubblewrap sandbox, and `bwrap` was not found. Install it with "
    "`sudo apt-get install bubblewrap` (Debian/Ubuntu; `dnf install bubblewrap` on Fedora), or, on a machine "
    f"that cannot run it, set {UNSANDBOXED_VARIABLE}=1 to grade without a sandbox (then a submission can read "
    "and change anything your account can: use it only for submissions you trust)."
)


WORKER_SITE = "/grader-site"  # the worker's declared packages, one read-only bind each
WORKER_VIEW = "/grader"  # the harness files the worker runs
SANDBOX_HOME = "/tmp"  # HOME, TMPDIR and the working folder: the private, size-capped tmpfs
KERNEL_FILES = "/submission"  # the kernel's read-only copy of the submission's files
KERNEL_WORKDIR = "/tmp/work"  # where the kernel runs: a writable copy of those, on the private /tmp
SYSTEM_PATH = ["/usr/local/bin", "/usr/bin", "/bin"]
SHM_BYTES = 64 * 2**20  # /dev/shm, for multiprocessing's semaphores and torch: capped like /tmp


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox here."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2 * 2**30
    cpu_seconds: int = 600
    processes: int = 256
    file_bytes: int = 256 * 2**20
    disk_bytes: int = 512 * 2**20  # the private /tmp: everything the process can write, all files together


def unsandboxed() -> bool:
    return os.environ.get(UNSANDBOXED_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def bwrap_path() -> str:
    """The bwrap executable; SandboxUnavailable, saying how to install it, when there is none."""
    found = shutil.which("bwrap")
    if not found:
        raise SandboxUnavailable(INSTALL_HINT)
    return found


def _python_binary() -> str:
    """The interpreter binary that runs sandboxed code, resolved through links.

    In a virtual environment this is the base interpreter it was made from (``sys._base_executable``), not
    the environment's own ``bin/python``: ``python -m venv`` links to it, but ``venv.EnvBuilder`` (start.py)
    and ``--copies`` copy it, and a copy only works beside its ``pyvenv.cfg``, which the worker's sandbox does
    not mount. The base interpreter lives in the runtime folders that every sandbox mounts (a conda or
    system Python is its own base), so the same path works for every layout.
    """
    base = getattr(sys, "_base_executable", None) or sys.executable
    if not base or not os.path.isfile(base):
        base = sys.executable
    return os.path.realpath(base)


def _runtime_dirs() -> list[str]:
    """Read-only directories the Python runtime itself lives in (not where packages are installed): the base
    prefixes, and the interpreter's own folder where it lies outside them (a Python built elsewhere)."""
    dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    binary_dir = os.path.dirname(_python_binary())
    if not any(binary_dir == d or binary_dir.startswith(d + os.sep) for d in dirs):
        dirs.add(binary_dir)
    return sorted(dirs)


def _site_dirs() -> list[str]:
    found = set()
    for prefix in {sys.prefix, sys.base_prefix}:
        for key in ("purelib", "platlib"):
            found.add(sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})[key])
    found.update(site.getsitepackages())
    user = site.getusersitepackages()
    if isinstance(user, str):
        found.add(user)
    return sorted(os.path.realpath(d) for d in found if os.path.isdir(d))


SYSTEM_PATHS = (
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/ld.so.cache",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/fonts",
)
# Where Python installations keep packages, relative to a prefix (/usr, /usr/local, a base interpreter's; for
# a conda base, also its other environments and its package cache, which hold importable copies).
PACKAGE_FOLDER_PATTERNS = ("lib*/python*/site-packages", "lib*/python*/dist-packages", "envs", "pkgs")


def _system_binds() -> list[str]:
    args = []
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def hidden_package_folders() -> list[str]:
    """Every folder of installed packages inside the system paths and runtime folders that a sandbox mounts
    (Debian's /usr/lib/python3/dist-packages, /usr/local/lib/python3.X/dist-packages, the base interpreter's
    site-packages): the worker's sandbox lays an empty tmpfs over each, so that only the standard library
    and the packages bound in on purpose can be imported, whatever the learner appends to ``sys.path``."""
    roots = {os.path.realpath(p) for p in SYSTEM_PATHS if os.path.isdir(p)} | set(_runtime_dirs())
    prefixes = {"/usr", "/usr/local", "/", *_runtime_dirs()}
    found = set(_site_dirs())
    for prefix in prefixes:
        for pattern in PACKAGE_FOLDER_PATTERNS:
            found.update(glob.glob(os.path.join(prefix, pattern)))
    hidden = set()
    for path in found:
        real = os.path.realpath(path)
        if os.path.isdir(real) and any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            hidden.add(real)
    return sorted(hidden)


def learner_environment(home: str, path: list[str]) -> dict[str, str]:
    """The whole environment a sandboxed process starts with: what Python, BLAS and matplotlib need, chosen
    by the grader; none of the instructor's variables (a JupyterHub token, cloud credentials) gets in."""
    return {
        "PATH": os.pathsep.join(path),
        "HOME": home,
        "TMPDIR": home,
        "MPLCONFIGDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # ipykernel's debugger would warn about frozen modules
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _common(limits: Limits) -> list[str]:
    # --clearenv: bwrap passes the grader's environment on unless told not to; the command's own
    # environment is set by the limit prefix (learner_environment), which also covers the unsandboxed path.
    return [
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits.disk_bytes),
        "--tmpfs",
        "/tmp",
        "--size",
        str(SHM_BYTES),
        "--tmpfs",
        "/dev/shm",
    ]


def _sealed() -> list[str]:
    """The last mount options: bwrap's own root and /dev are tmpfs, writable and unbounded unless made
    read-only, after every mount point in them exists; /tmp and /dev/shm stay writable, each capped."""
    return ["--remount-ro", "/dev", "--remount-ro", "/"]


def _hidden(path: str) -> list[str]:
    """An empty, read-only tmpfs over ``path``."""
    return ["--size", "4096", "--tmpfs", path, "--remount-ro", path]


def _limit_prefix(limits: Limits, env: dict[str, str], seed: tuple[str, str] | None = None) -> list[str]:
    """A command prefix that sets the resource limits, then becomes the real command with exactly ``env`` as
    its environment (no shell involved). ``seed`` (from, to): copy the folder ``from`` into ``to`` first and
    start there (the kernel's working folder, filled from a read-only copy of the submission's files)."""
    code = (
        "import os, resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limits.memory_bytes}, {limits.memory_bytes}))\n"
        f"resource.setrlimit(resource.RLIMIT_CPU, ({limits.cpu_seconds}, {limits.cpu_seconds}))\n"
        f"resource.setrlimit(resource.RLIMIT_NPROC, ({limits.processes}, {limits.processes}))\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limits.file_bytes}, {limits.file_bytes}))\n"
    )
    if seed is not None:
        code += (
            "import shutil\n"
            f"shutil.copytree({seed[0]!r}, {seed[1]!r}, symlinks=True, dirs_exist_ok=True)\n"
            f"os.chdir({seed[1]!r})\n"
        )
    code += f"os.execvpe(sys.argv[1], sys.argv[1:], {env!r})\n"
    return [_python_binary(), "-I", "-S", "-c", code]


def distribution_entries(names) -> list[Path]:
    """The top-level files and folders that the named distributions (and what they require) install."""
    seen, entries, todo = set(), set(), list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        base = Path(dist.locate_file(""))
        for file in dist.files or []:
            top = file.parts[0]
            if top not in ("..", "__pycache__") and not top.endswith((".pth", ".dist-info")):
                entries.add(base / top)
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[\s;\[<>=!~(]", requirement.strip(), maxsplit=1)[0])
    return sorted(p for p in entries if p.exists())


def worker_command(view: Path, packages=("numpy",), limits: Limits = Limits()) -> list[str]:
    """argv that runs dlcourse.autograde.worker from ``view`` (a folder holding only the harness files),
    seeing only ``packages`` of what is installed."""
    boot = (
        f"import sys; sys.path[:0] = [{WORKER_VIEW!r}, {WORKER_SITE!r}]; import runpy; "
        "runpy.run_module('dlcourse.autograde.worker', run_name='__main__')"
    )
    if unsandboxed():
        site_dir = view.parent / "site"
        site_dir.mkdir(exist_ok=True)
        for entry in distribution_entries(packages):
            link = site_dir / entry.name
            if not link.exists():
                link.symlink_to(entry)
        boot = boot.replace(repr(WORKER_VIEW), repr(str(view))).replace(repr(WORKER_SITE), repr(str(site_dir)))
        home = view.parent / "home"
        home.mkdir(exist_ok=True)
        env = learner_environment(str(home), [os.path.dirname(_python_binary()), *SYSTEM_PATH])
        return _limit_prefix(limits, env) + [_python_binary(), "-I", "-S", "-c", boot]
    # The private /tmp comes first: a bind made before it would vanish under it (a repository in /tmp, say).
    args = [bwrap_path()] + _common(limits) + _system_binds()
    for path in _runtime_dirs():
        args += ["--ro-bind", path, path]
    for path in hidden_package_folders():  # hide every installed package; only the chosen ones come back, below
        args += _hidden(path)
    args += ["--ro-bind", str(view), WORKER_VIEW, "--dir", WORKER_SITE]
    for entry in distribution_entries(packages):
        args += ["--ro-bind", str(entry), f"{WORKER_SITE}/{entry.name}"]
    args += _sealed() + ["--chdir", SANDBOX_HOME, "--"]
    env = learner_environment(SANDBOX_HOME, [os.path.dirname(_python_binary()), *SYSTEM_PATH])
    return args + _limit_prefix(limits, env) + [_python_binary(), "-I", "-S", "-c", boot]


def kernel_command(
    kernel_argv: list[str], *, files: Path, ipc_dir: Path, limits: Limits = Limits(), package_dirs=()
) -> list[str]:
    """argv that runs a notebook kernel in a sandbox: packages read-only, no network, and only two folders
    of the grader's: ``files`` (a scratch copy of the submission's files, read-only; the kernel starts in a
    writable copy of it on its private /tmp) and ``ipc_dir`` (the kernel's sockets and connection file).

    Unsandboxed, the kernel runs in ``files`` itself (the caller's scratch copy), with ``ipc_dir`` as HOME.
    """
    kernel_path = [os.path.dirname(os.path.abspath(kernel_argv[0])), os.path.join(sys.prefix, "bin"), *SYSTEM_PATH]
    kernel_path = list(dict.fromkeys(kernel_path))
    if unsandboxed():
        return _limit_prefix(limits, learner_environment(str(ipc_dir), kernel_path)) + list(kernel_argv)
    # The private /tmp comes first: a bind made before it would vanish under it (a virtual environment in /tmp).
    args = [bwrap_path()] + _common(limits) + _system_binds()
    for path in _runtime_dirs() + _site_dirs() + [os.path.realpath(sys.prefix)]:
        args += ["--ro-bind", path, path]
    for path in package_dirs:  # an editable install's source folder (the package alone, not its repository)
        args += ["--ro-bind", str(path), str(path)]
    # ipykernel exits when its parent's pid changes; inside a pid namespace it cannot see its parent, so
    # JPY_PARENT_PID is not in learner_environment and the poller is off (the kernel still dies with bwrap,
    # which dies with the grader: --die-with-parent).
    args += ["--ro-bind", str(files), KERNEL_FILES, "--bind", str(ipc_dir), str(ipc_dir)]
    args += _sealed() + ["--chdir", SANDBOX_HOME, "--"]
    env = learner_environment(SANDBOX_HOME, kernel_path)
    return args + _limit_prefix(limits, env, seed=(KERNEL_FILES, KERNEL_WORKDIR)) + list(kernel_argv)
