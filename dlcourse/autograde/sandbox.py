"""Bubblewrap sandboxes for the learner's code: what it may see, what it may write, how much it may use.

Two kinds of process run a learner's code while grading:

- the *worker* (``worker_command``) that the grader calls the learner's functions in. It sees the operating
  system and the Python runtime read-only, NumPy (plus what an exercise adds), and a small copy of the
  course's harness that holds no reference answer; not the course package, not torch, not the course folder.
- the *notebook kernel* (``kernel_command``) that runs the submission top to bottom so that feedback shows
  its outputs. It sees the installed packages read-only and may write only the submission's own folder. Its
  results decide no points.

Both have no network, a private /tmp, their own process namespace (every process they start dies with them),
a memory limit and a CPU-time limit. ``DLCOURSE_UNSANDBOXED=1`` runs them without bubblewrap, for machines
that cannot run it; then the learner's code can read anything the instructor can, and grades are not safe.
"""

from __future__ import annotations

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


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox here."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2 * 2**30
    cpu_seconds: int = 600
    processes: int = 256
    file_bytes: int = 256 * 2**20


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


def _system_binds() -> list[str]:
    args = []
    for path in (
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
    ):
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def _common(limits_tmp_size: int = 512 * 2**20) -> list[str]:
    return [
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits_tmp_size),
        "--tmpfs",
        "/tmp",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--setenv",
        "MPLCONFIGDIR",
        "/tmp",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        "--setenv",
        "OMP_NUM_THREADS",
        "1",
        "--setenv",
        "OPENBLAS_NUM_THREADS",
        "1",
        "--setenv",
        "MKL_NUM_THREADS",
        "1",
    ]


def _limit_prefix(limits: Limits) -> list[str]:
    """A command prefix that sets the resource limits, then becomes the real command (no shell involved)."""
    code = (
        "import os, resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limits.memory_bytes}, {limits.memory_bytes}))\n"
        f"resource.setrlimit(resource.RLIMIT_CPU, ({limits.cpu_seconds}, {limits.cpu_seconds}))\n"
        f"resource.setrlimit(resource.RLIMIT_NPROC, ({limits.processes}, {limits.processes}))\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limits.file_bytes}, {limits.file_bytes}))\n"
        "os.execv(sys.argv[1], sys.argv[1:])\n"
    )
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


WORKER_SITE = "/grader-site"
WORKER_VIEW = "/grader"


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
        return _limit_prefix(limits) + [_python_binary(), "-I", "-S", "-c", boot]
    # The private /tmp comes first: a bind made before it would vanish under it (a repository in /tmp, say).
    args = [bwrap_path()] + _common() + _system_binds()
    for path in _runtime_dirs():
        args += ["--ro-bind", path, path]
    for path in _site_dirs():  # hide every installed package; only the chosen ones come back, below
        if any(path.startswith(r + os.sep) or path == r for r in _runtime_dirs()):
            args += ["--tmpfs", path]
    args += ["--ro-bind", str(view), WORKER_VIEW, "--dir", WORKER_SITE]
    for entry in distribution_entries(packages):
        args += ["--ro-bind", str(entry), f"{WORKER_SITE}/{entry.name}"]
    args += ["--chdir", "/tmp", "--"]
    return args + _limit_prefix(limits) + [_python_binary(), "-I", "-S", "-c", boot]


def kernel_command(
    kernel_argv: list[str], *, writable: Path, ipc_dir: Path, limits: Limits = Limits(), package_dirs=()
) -> list[str]:
    """argv that runs a notebook kernel in a sandbox: packages read-only, only ``writable`` (the submission's
    folder) and ``ipc_dir`` (the kernel's sockets and connection file) writable, no network."""
    if unsandboxed():
        return _limit_prefix(limits) + list(kernel_argv)
    # The private /tmp comes first: a bind made before it would vanish under it (a virtual environment in /tmp).
    args = [bwrap_path()] + _common() + _system_binds()
    for path in _runtime_dirs() + _site_dirs() + [os.path.realpath(sys.prefix)]:
        args += ["--ro-bind", path, path]
    for path in package_dirs:  # an editable install's source folder (the package alone, not its repository)
        args += ["--ro-bind", str(path), str(path)]
    # ipykernel exits when its parent's pid changes; inside a pid namespace it cannot see its parent, so the
    # poller is off (the kernel still dies with bwrap, which dies with the grader: --die-with-parent).
    args += ["--unsetenv", "JPY_PARENT_PID"]
    args += [
        "--bind",
        str(writable),
        str(writable),
        "--bind",
        str(ipc_dir),
        str(ipc_dir),
        "--chdir",
        str(writable),
        "--",
    ]
    return args + _limit_prefix(limits) + list(kernel_argv)
