"""Builds sensekit's one native kernel (accelerate/_melkernel.c); everything else is in
pyproject.toml. The extension is optional: without a C compiler the install still
succeeds and accelerate.dsp runs its numpy path instead."""

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    flags = ["/O2"]
else:  # no -march=native: the kernel picks AVX2 at load time where the CPU has it
    flags = ["-O3", "-fno-math-errno", "-std=gnu11"]

setup(ext_modules=[Extension("sensekit.accelerate._melkernel",
                             ["sensekit/accelerate/_melkernel.c"],
                             depends=["sensekit/accelerate/_melkernel_body.h"],
                             extra_compile_args=flags, optional=True)])
