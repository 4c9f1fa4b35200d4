"""Downloads that are verified by SHA-256, cached, and never repeated.

A file is fetched into the cache directory only when it is not already there with the right checksum.
It is written to a temporary name and renamed once verified, so an interrupted download never leaves a
file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path


class DownloadError(RuntimeError):
    """A download failed (network, HTTP status) or its content did not match the expected checksum."""


def cache_dir() -> Path:
    """Where downloads are kept: $DLCOURSE_CACHE, else ~/.cache/dlcourse."""
    root = os.environ.get("DLCOURSE_CACHE") or Path.home() / ".cache" / "dlcourse"
    return Path(root)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(filename: str, urls: list[str], sha256: str, *, root: Path | None = None, timeout: float = 60) -> Path:
    """Return the path of ``filename`` in the cache, downloading it from the first working URL if needed.

    urls: mirrors to try in order, each the full address of the file
    sha256: the expected hex digest; a cached file that does not match is downloaded again, a download
        that does not match raises DownloadError
    """
    if len(sha256) != 64:
        raise ValueError(f"sha256 must be a 64-character hex digest, got {sha256!r}")
    root = Path(root) if root is not None else cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / filename
    if target.exists():
        if sha256_of(target) == sha256:
            return target
        target.unlink()  # corrupt or from another release: fetch it again
    failures = []
    for url in urls:
        partial = target.with_name(target.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
        except urllib.error.HTTPError as err:
            failures.append(f"{url}: HTTP {err.code} {err.reason}")
            continue
        except (urllib.error.URLError, OSError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
            continue
        finally:
            if not target.exists() and partial.exists() and partial.stat().st_size == 0:
                partial.unlink()
        got = sha256_of(partial)
        if got != sha256:
            partial.unlink()
            failures.append(f"{url}: checksum mismatch, expected sha256 {sha256}, got {got}")
            continue
        partial.replace(target)
        return target
    raise DownloadError(
        f"could not download {filename}:\n  "
        + "\n  ".join(failures)
        + "\nWithout a network, use dlcourse.data.load_digits(), which ships with the course."
    )
