"""Every lab installs, and every badge opens, the release the labs were written against (issue: Colab labs that
met a package changed in week 8). One variable holds the repository, one the version."""

from __future__ import annotations

import importlib.metadata
import re

import nbformat
from course_helpers import LABS, ROOT, setup_cell, source_notebook

import dlcourse
from dlcourse.instructor import build, release

TAG = f"v{dlcourse.__version__}"
REPO = release.REPOSITORY


def test_the_package_version_is_the_one_in_dlcourse():
    assert importlib.metadata.version("dlcourse") == dlcourse.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", dlcourse.__version__)


def test_every_set_up_cell_installs_this_release_on_colab():
    for lab in LABS:
        setup = setup_cell(source_notebook(lab)).source
        assert f'"dlcourse @ git+https://github.com/{REPO}@{TAG}"' in setup, lab
        assert "--no-deps" in setup and 'if "google.colab" in sys.modules' in setup, lab
        # The released lab, as students get it, says the same.
        released = nbformat.read(ROOT / "labs" / f"{lab}.ipynb", as_version=4)
        assert setup_cell(released).source == setup, lab


def test_every_badge_opens_this_release():
    readme = (ROOT / "README.md").read_text()
    assert f"https://mybinder.org/v2/gh/{REPO}/{TAG}?urlpath=lab/tree/labs" in readme
    for lab in LABS:
        colab = f"https://colab.research.google.com/github/{REPO}/blob/{TAG}/labs/{lab}.ipynb"
        assert colab in readme, lab
        assert colab in source_notebook(lab).cells[0].source, lab
    found = release.links(readme) + [
        link for lab in LABS for link in release.links(source_notebook(lab).cells[0].source)
    ]
    assert found and all(REPO in link and TAG in link for link in found)


def test_stamping_rewrites_any_repository_and_ref_and_is_idempotent():
    text = (
        '"dlcourse @ git+https://github.com/someone/fork@main"], check=True)\n'
        "(https://colab.research.google.com/github/someone/fork/blob/dev-2/labs/01-neuron.ipynb)\n"
        "(https://mybinder.org/v2/gh/someone/fork/abc123?urlpath=lab/tree/labs)"
    )
    stamped = release.stamp(text, "uni/dl-2027", "1.2.3")
    assert stamped == (
        '"dlcourse @ git+https://github.com/uni/dl-2027@v1.2.3"], check=True)\n'
        "(https://colab.research.google.com/github/uni/dl-2027/blob/v1.2.3/labs/01-neuron.ipynb)\n"
        "(https://mybinder.org/v2/gh/uni/dl-2027/v1.2.3?urlpath=lab/tree/labs)"
    )
    assert release.stamp(stamped, "uni/dl-2027", "1.2.3") == stamped
    assert len(release.links(stamped)) == 3


def test_build_check_names_links_of_another_release(tmp_path):
    (tmp_path / "course" / "source").mkdir(parents=True)
    (tmp_path / "course" / "nbgrader_config.py").write_text("")
    readme = (ROOT / "README.md").read_text()
    (tmp_path / "README.md").write_text(readme)
    assert build.stale([], tmp_path) == []
    (tmp_path / "README.md").write_text(readme.replace(TAG, "v0.0.1"))
    problems = build.stale([], tmp_path)
    assert problems == [f"README.md (links not stamped with {REPO} {TAG})"]
    assert build.stamp_release([], tmp_path) == ["README.md"]
    assert (tmp_path / "README.md").read_text() == readme
