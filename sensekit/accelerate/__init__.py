"""Vectorized numeric kernels under every domain: dsp, image, nn, linalg.

Pure functions over arrays. Nothing here imports the rest of sensekit except
:mod:`sensekit.accelerate.backend`, which picks numpy or CuPy.
"""

from sensekit.accelerate import backend, dsp, image, linalg, nn

__all__ = ["backend", "dsp", "image", "linalg", "nn"]
