"""The state and computation behind each interactive explorer, in plain Python.

Tests drive these classes directly; ``dlcourse.widgets`` binds their attributes to ipywidgets controls.
"""
from .neuron import ACTIVATIONS, ActivationExplorer, NeuronExplorer

__all__ = ["ACTIVATIONS", "ActivationExplorer", "NeuronExplorer"]
