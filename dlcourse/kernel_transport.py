"""Encrypted kernel connections for the kernels the course starts (dlcourse validate, dlcourse build, nbgrader).

ipykernel 7 warns on every start that it "is running over TCP without encryption" unless its kernel manager
hands it CurveZMQ keys. A jupyter_client with ``KernelManager.transport_encryption`` (8.10 here) does that
when asked (``"auto"``: keys for kernels whose kernelspec declares Curve support, as ipykernel's python3
does), which removes the cause of the warning instead of hiding it. An older jupyter_client has no such
setting, and an older ipykernel neither warns nor takes keys: then nothing is set.
"""

from __future__ import annotations


def encrypt_kernel_transport(config) -> None:
    """Ask every KernelManager configured by ``config`` (a traitlets Config, nbgrader's ``c`` included) to
    provision CurveZMQ keys for the kernels it starts, where jupyter_client and pyzmq can."""
    import zmq
    from jupyter_client import KernelManager

    if KernelManager.class_traits().get("transport_encryption") is not None and zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"


def kernel_config():
    """A traitlets Config for an nbclient NotebookClient: encrypted kernel transport where available."""
    from traitlets.config import Config

    config = Config()
    encrypt_kernel_transport(config)
    return config
