"""What differs between two runs of one unchanged notebook, pinned or ignored: a rebuild leaves no diff.

What varies from run to run of an executed solution while nothing it shows has changed:

- execution timestamps in each cell's metadata: not recorded (``NotebookClient(record_timing=False)``) and
  ignored in old notebooks;
- the ids of widget models (random uuids, in outputs and in the saved widget state): ``pin_widget_ids``
  derives them from where each model sits in the notebook, so the same run gives the same ids;
- how printed text is cut into stream outputs (the kernel sends what it has whenever it flushes):
  ``merge_adjacent_streams`` joins consecutive pieces of one stream, keeping their place among figures;
- timings printed by the labs (speed checks, training times, progress bars) and the Python version that ran
  them: ``same_run`` compares two runs with those masked, and an equal rerun leaves the old file as it is.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# Text that measures time: "21 s", "(3.8 s)", "0.9 ms", "2.0x the reference", a progress bar's
# "[00:12<00:03, 9.8it/s]". Masked only when comparing two runs; files keep what was printed.
TIMINGS = [
    (re.compile(r"\d+(?:\.\d+)?x the reference"), "<ratio>x the reference"),
    (re.compile(r"\d+(?:\.\d+)?\s?(?:ms|s|min|it/s|s/it)\b"), "<time>"),
    (re.compile(r"\d+:\d{2}(?::\d{2})?"), "<clock>"),
]


def pin_widget_ids(nb, salt: str):
    """A copy of ``nb`` whose widget model ids are derived from ``salt`` (the lab's name) and each model's
    place in the notebook instead of random uuids: in the saved state, in the outputs that show them and in
    the references between models ("IPY_MODEL_<id>"). The same run gives the same ids, whether it was just
    made or read back from a file (which stores the state sorted by id)."""
    ids = _in_notebook_order(nb)
    if not ids:
        return copy.deepcopy(nb)
    pinned = {old: hashlib.sha256(f"{salt}/{i}".encode()).hexdigest()[:32] for i, old in enumerate(ids)}
    pattern = re.compile("|".join(re.escape(old) for old in sorted(ids, key=len, reverse=True)))
    text = pattern.sub(lambda m: pinned[m.group(0)], json.dumps(nb))
    import nbformat

    return nbformat.from_dict(json.loads(text))


def _references(value):
    """The model ids a widget's state names ("IPY_MODEL_<id>"), in an order that does not depend on them."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _references(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, str) and value.startswith("IPY_MODEL_"):
        yield value[len("IPY_MODEL_") :]


def _in_notebook_order(nb) -> list[str]:
    """Widget model ids, each once: those the outputs show, cell by cell, each followed depth first by the
    models it refers to (its layout, style, children); then any model nothing shows, ordered by its state."""
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    order: list[str] = []

    def visit(model):
        if model in order:
            return
        order.append(model)
        for ref in _references(state.get(model, {}).get("state", {})):
            visit(ref)

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            model = output.get("data", {}).get(WIDGET_VIEW, {}).get("model_id")
            if model:
                visit(model)
    unshown = [m for m in state if m not in order]
    without_ids = {m: re.sub(r"IPY_MODEL_\w+", "", json.dumps(state[m], sort_keys=True)) for m in unshown}
    for model in sorted(unshown, key=lambda m: without_ids[m]):
        visit(model)
    return order


def merge_adjacent_streams(nb):
    """``nb`` with each run of consecutive stream outputs of one name (stdout, stderr) in a cell joined into
    one; in place, and returned. Unlike nbclient's coalesce_streams, text printed after a figure stays after
    it."""
    for cell in nb.cells:
        merged = []
        for output in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if (
                output.get("output_type") == "stream"
                and last is not None
                and last.get("output_type") == "stream"
                and last.get("name") == output.get("name")
            ):
                last["text"] = "".join(last["text"]) + "".join(output["text"])
            else:
                merged.append(output)
        if "outputs" in cell:
            cell["outputs"] = merged
    return nb


def settled(nb, salt: str):
    """A copy of an executed notebook with what varies by chance between runs made steady: widget ids
    pinned, adjacent stream pieces joined."""
    return merge_adjacent_streams(pin_widget_ids(nb, salt))


def _masked(value, key: str = ""):
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, key) for v in value]
    if isinstance(value, str) and not key.startswith("image/"):
        for pattern, placeholder in TIMINGS:
            value = pattern.sub(placeholder, value)
    return value


def comparable_run(nb, salt: str) -> str:
    """The run as text, without what differs between two runs of the same notebook (see the module)."""
    nb = settled(nb, salt)
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
    nb.metadata.pop("dlcourse_build", None)  # the build record (build.py): compared on its own
    nb.metadata.get("language_info", {}).pop("version", None)
    return json.dumps(_masked(nb), sort_keys=True)


def same_run(old, new, salt: str) -> bool:
    """Whether two executions of one notebook show the same thing, up to timings, ids and timestamps."""
    return comparable_run(old, salt) == comparable_run(new, salt)
