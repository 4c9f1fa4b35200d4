"""dlcourse: the Python package behind the course, from a single neuron to ResNet."""
__version__ = "0.1.0"
