"""dlcourse: the Python package behind the course, from a single neuron to ResNet.

The parts, each a subpackage or module with one job:

- ``functional`` (NumPy twins of torch.nn.functional, backward beside forward; ``functional.naive``: the loop
  versions, a second oracle), ``nn`` (NumPy layers), ``optim`` (optimisers; ``optim.rules``: the update
  rules as pure functions), ``train`` (mini-batches, fit, predict), ``gradcheck``: the NumPy framework;
- ``reference``: the labs' answers that are not framework operations, one module per lab;
- ``feedback``: the checks learners run, the graded exercises and their known mistakes, the own-work guard;
- ``explorers``: the interactive explorers' state, their ipywidgets shells (``explorers.widgets``) and figures
  (``explorers.figures``);
- ``data``: toy sets, offline digits, MNIST downloads, photographs; ``models``: PyTorch models and a summary;
- ``autograde`` and ``instructor``: the instructor's side (grading out of the learner's reach, building the
  labs), which needs the ``[instructor]`` extra.
"""

__version__ = "0.1.0"
