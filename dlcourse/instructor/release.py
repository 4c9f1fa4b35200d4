"""Which repository and which release the labs point at: one variable each, stamped by ``dlcourse build``.

A lab opened on Colab installs the course package from GitHub in its set-up cell. It must install the package
the lab was written against, not the tip of a branch that may have moved on by week 8, so every link a lab or
README gives (the set-up cell's ``git+https`` install, the Colab and Binder badges) names the release tag
``v<dlcourse.__version__>``. ``dlcourse build`` rewrites those links in course/source and README.md;
``dlcourse build --check`` fails while any of them names another repository or release.

To cut a release: set ``__version__`` in dlcourse/__init__.py, run ``python -m dlcourse build``, commit, then
``git tag v<version> && git push origin v<version>`` (README, "For instructors").
"""

from __future__ import annotations

import re

from dlcourse import __version__

# The course's home on GitHub ("owner/name"). A fork that teaches from its own copy changes this line only.
REPOSITORY = "dlcourse/dlcourse"


def release_tag(version: str = __version__) -> str:
    return f"v{version}"


_NAME = r"[A-Za-z0-9_.-]+"
_REF = r"[A-Za-z0-9_.+/-]+?"
_LINKS = (
    # the set-up cell: "dlcourse @ git+https://github.com/OWNER/NAME@REF"
    (
        re.compile(rf"git\+https://github\.com/{_NAME}/{_NAME}(?:@[A-Za-z0-9_.+-]+)?(?=[\"'\s])"),
        "git+https://github.com/{repo}@{ref}",
    ),
    # Colab badges: https://colab.research.google.com/github/OWNER/NAME/blob/REF/labs/...
    (
        re.compile(rf"colab\.research\.google\.com/github/{_NAME}/{_NAME}/blob/{_REF}/labs/"),
        "colab.research.google.com/github/{repo}/blob/{ref}/labs/",
    ),
    # the Binder badge: https://mybinder.org/v2/gh/OWNER/NAME/REF?urlpath=...
    (re.compile(rf"mybinder\.org/v2/gh/{_NAME}/{_NAME}/{_REF}\?"), "mybinder.org/v2/gh/{repo}/{ref}?"),
)


def stamp(text: str, repository: str = REPOSITORY, version: str = __version__) -> str:
    """``text`` with every course link naming ``repository`` at the release tag of ``version``."""
    for pattern, template in _LINKS:
        text = pattern.sub(template.format(repo=repository, ref=release_tag(version)), text)
    return text


def links(text: str) -> list[str]:
    """The course links in ``text`` (set-up installs, Colab and Binder badges), as written."""
    return [m.group(0) for pattern, _ in _LINKS for m in pattern.finditer(text)]
