"""The state and computation behind each interactive explorer, in plain Python.

Tests drive these classes directly; ``dlcourse.explorers.widgets`` binds their attributes to ipywidgets controls.
"""

from .convolution import KERNELS, ConvExplorer
from .learning import SURFACES, LearningRateExplorer, OptimizerRace
from .neuron import ACTIVATIONS, ActivationExplorer, NeuronExplorer
from .playground import Playground
from .pooling import PoolExplorer
from .regularization import RegularizationExplorer

__all__ = [
    "ACTIVATIONS",
    "KERNELS",
    "SURFACES",
    "ActivationExplorer",
    "ConvExplorer",
    "LearningRateExplorer",
    "NeuronExplorer",
    "OptimizerRace",
    "Playground",
    "PoolExplorer",
    "RegularizationExplorer",
]
