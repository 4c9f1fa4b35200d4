"""Each lab has one written question, graded by hand in nbgrader, with a model answer in the
solutions; the numbers the model answers state are computed here."""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest
import torch
from course_helpers import LABS, ROOT, nbgrader_meta, source_notebook

from dlcourse import functional as F
from dlcourse.reference.conv_arithmetic import conv2d_param_count

WRITTEN_LABS = LABS  # every lab


def _written(nb):
    return [c for c in nb.cells if nbgrader_meta(c).get("grade_id", "").startswith("written_")]


@pytest.mark.parametrize("lab", WRITTEN_LABS)
def test_one_manually_graded_written_question_with_a_model_answer(lab):
    (answer,) = _written(source_notebook(lab))
    meta = nbgrader_meta(answer)
    assert answer.cell_type == "markdown" and meta["solution"] and meta["grade"] and meta["points"] == 1
    assert len(answer.source.split()) >= 40, "the model answer explains, in sentences"
    (released,) = _written(nbformat.read(ROOT / "labs" / f"{lab}.ipynb", as_version=4))
    assert released.source == "YOUR ANSWER HERE"  # the learner sees no model answer
    (solved,) = _written(nbformat.read(ROOT / "solutions" / f"{lab}.ipynb", as_version=4))
    assert solved.source == answer.source
    cells = source_notebook(lab).cells
    question = cells[cells.index(answer) - 1]
    assert question.source.startswith("## Written question (1 point, graded by your instructor)")


def test_lab05_model_answer_counts():
    text = _written(source_notebook("05-convolution"))[0].source.replace("{,}", ",")  # LaTeX's thousands separator
    dense = sum(p.numel() for p in torch.nn.Linear(224 * 224 * 3, 1000, device="meta").parameters())
    assert f"{dense:,}" in text and dense == 150_529_000
    assert f"{conv2d_param_count(3, 64, 3):,}" in text


def test_lab02_model_answer_factor():
    """x_{t+1} = (1 - eta a) x_t: converges below 2/a, one step at 1/a, alternating sign between 1/a and 2/a.
    The trajectories come from the course's own SGD rule on f(x) = a x^2 / 2, and the answer states each claim."""
    from dlcourse.optim.rules import sgd_update

    text = _written(source_notebook("02-learning"))[0].source
    assert "(1 - \\eta a)" in text and "2/a" in text and "1/a" in text and "alternating sign" in text
    a, x0 = 4.0, np.array([1.0])

    def run(eta, steps=50):
        xs, state = [x0], {}
        for _ in range(steps - 1):
            x, state = sgd_update(xs[-1], a * xs[-1], state, lr=eta)  # the gradient of a x^2 / 2 is a x
            xs.append(x)
        return [float(x[0]) for x in xs]

    assert abs(run(1.9 / a)[-1]) < 1e-2 and abs(run(2.1 / a)[-1]) > 1e2
    assert np.allclose(run(2.1 / a, 6), [(1 - 2.1) ** t for t in range(6)])  # the closed form (1 - eta a)^t x0
    assert run(1 / a)[1] == 0.0
    between = run(1.5 / a, 4)
    assert between[1] < 0 < between[2] and abs(between[2]) < abs(between[1])


def test_lab03_model_answer_relu_kink():
    h = 1e-6
    centred = (F.relu(np.array([h])) - F.relu(np.array([-h]))) / (2 * h)
    assert np.isclose(centred[0], 0.5) and F.relu_backward(np.ones(1), np.zeros(1))[0] == 0.0


def test_lab04_model_answer_inverted_dropout_keeps_the_mean():
    x = np.ones(200_000)
    p = 0.3
    kept = F.dropout(x, p=p, training=True, rng=np.random.default_rng(0))
    assert abs(kept.mean() - 1.0) < 0.01
    assert re.search(r"\(1 - p\)", _written(source_notebook("04-training"))[0].source)
