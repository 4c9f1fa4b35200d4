"""The state and computation behind each interactive explorer, in plain Python.

Tests drive these classes directly; ``dlcourse.widgets`` binds their attributes to ipywidgets controls.
"""
from .convolution import KERNELS, ConvExplorer
from .neuron import ACTIVATIONS, ActivationExplorer, NeuronExplorer
from .pooling import PoolExplorer

__all__ = ["ACTIVATIONS", "KERNELS", "ActivationExplorer", "ConvExplorer", "NeuronExplorer", "PoolExplorer"]
