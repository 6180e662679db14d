"""What this CPU can do: its model name and the instruction sets that change kernel choice.

int8 and float kernels differ most between CPUs with and without AVX-512, VNNI (int8 dot
products: AVX512-VNNI or AVX-VNNI) and AMX, and on ARM with and without the dot-product
extension, so every benchmark prints :func:`describe` first and packages record
:func:`features` when a build chose kernels for the machine.

Read from ``/proc/cpuinfo`` on Linux; elsewhere from NumPy's own run-time CPU dispatch
table, which names the same extensions.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path

# sensekit's name -> the /proc/cpuinfo flag (x86) or feature (ARM) that shows it
_LINUX_FLAGS = {
    "sse4_2": "sse4_2",
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "avx512f": "avx512f",
    "avx512bw": "avx512bw",
    "avx512_vnni": "avx512_vnni",
    "avx512_bf16": "avx512_bf16",
    "avx_vnni": "avx_vnni",
    "amx_tile": "amx_tile",
    "amx_int8": "amx_int8",
    "amx_bf16": "amx_bf16",
    "neon": "asimd",
    "dotprod": "asimddp",
    "i8mm": "i8mm",
    "sve": "sve",
}
# the same from NumPy's dispatch table (macOS, Windows)
_NUMPY_FEATURES = {
    "sse4_2": "SSE42",
    "avx": "AVX",
    "avx2": "AVX2",
    "fma": "FMA3",
    "f16c": "F16C",
    "avx512f": "AVX512F",
    "avx512bw": "AVX512BW",
    "avx512_vnni": "AVX512_CLX",
    "avx512_bf16": "AVX512_SPR",
    "neon": "ASIMD",
    "dotprod": "ASIMDDP",
    "i8mm": "I8MM",
    "sve": "SVE",
}


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's model name, architecture, core count and instruction sets."""

    model: str
    machine: str
    cores: int
    features: frozenset[str]

    @property
    def vnni(self) -> bool:
        """int8 dot products in one instruction (AVX512-VNNI, AVX-VNNI or AMX-INT8)."""
        return bool(self.features & {"avx512_vnni", "avx_vnni", "amx_int8"})

    @property
    def kind(self) -> str:
        """The class of CPU that decides kernel choices: "amx", "avx512-vnni", "avx-vnni",
        "avx512", "avx2", "arm-dotprod", "arm" or "baseline"."""
        f = self.features
        for name, needs in (
            ("amx", {"amx_int8"}),
            ("avx512-vnni", {"avx512_vnni"}),
            ("avx-vnni", {"avx_vnni"}),
            ("avx512", {"avx512f"}),
            ("avx2", {"avx2", "fma"}),
            ("arm-dotprod", {"dotprod"}),
            ("arm", {"neon"}),
        ):
            if needs <= f:
                return name
        return "baseline"

    def describe(self) -> str:
        """One line for benchmark headers and ``sensekit doctor``."""
        shown = ", ".join(sorted(self.features)) or "none detected"
        line = f"CPU: {self.model} ({self.machine}, {self.cores} cores, {self.kind}); ISA: {shown}"
        for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            if os.environ.get(variable):
                line += f"; {variable}={os.environ[variable]}"
        return line


def _from_proc(text: str) -> tuple[str, frozenset[str]]:
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if (
            key in ("model name", "hardware", "processor")
            and not model
            and not value.strip().isdigit()
        ):
            model = value.strip()
        elif key in ("flags", "features"):
            flags |= set(value.split())
    found = {name for name, flag in _LINUX_FLAGS.items() if flag in flags}
    return model, frozenset(found)


def _from_numpy() -> frozenset[str]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as table
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as table
    return frozenset(name for name, key in _NUMPY_FEATURES.items() if table.get(key))


@functools.cache
def info() -> CpuInfo:
    """This machine's :class:`CpuInfo` (read once)."""
    proc = Path("/proc/cpuinfo")
    model, features = ("", frozenset())
    if proc.is_file():
        model, features = _from_proc(proc.read_text(errors="replace"))
    if not features:
        features = _from_numpy()
    return CpuInfo(
        model or platform.processor() or "unknown CPU",
        platform.machine(),
        os.cpu_count() or 1,
        features,
    )


def describe() -> str:
    """``info().describe()``: the line every benchmark prints first."""
    return info().describe()


# -- int8 weights fitted to the CPU ---------------------------------------------------------
INT8_WEIGHTS_ENV = "SENSEKIT_INT8_WEIGHTS"  # "int8" or "uint8" forces the choice (tests)


def int8_weights(cpu: CpuInfo | None = None) -> str:
    """The weight type for dynamically quantized MatMuls that is fast and exact on ``cpu``
    (default: this machine).

    ``"int8"`` (signed) where VNNI, AMX or ARM's dot product multiply uint8 activations by
    int8 weights into int32 directly: ONNX Runtime's fastest int8 path there (MiniLM at 384
    tokens: 21 ms against 48 ms with uint8 weights on an AVX-512 VNNI Xeon). ``"uint8"``
    elsewhere: without VNNI the u8 x s8 kernel adds pairs of products in int16
    (``vpmaddubsw``), which saturates and cost the QA model 9 dev F1 points on AVX2.
    ``SENSEKIT_INT8_WEIGHTS=int8|uint8`` forces one.
    """
    forced = os.environ.get(INT8_WEIGHTS_ENV, "").strip().lower()
    if forced in ("int8", "uint8"):
        return forced
    return _fitted_int8(cpu or info())


def _fitted_int8(cpu: CpuInfo) -> str:
    """The rule of :func:`int8_weights`, without the override."""
    return "int8" if cpu.vnni or "dotprod" in cpu.features else "uint8"


def int8_record(weights: str, cpu: CpuInfo | None = None) -> dict[str, object]:
    """What a package records about an int8 build: the weight type and the CPU chosen for."""
    cpu = cpu or info()
    return {"weights": weights, "cpu_kind": cpu.kind, "cpu_features": sorted(cpu.features)}


def int8_mismatch(record: dict, cpu: CpuInfo | None = None) -> str | None:
    """Why a package's int8 weights do not fit ``cpu``, or None when they do.

    int8 (signed) weights built on a VNNI CPU run on one without VNNI with saturating
    sums (less accurate); uint8 weights built without VNNI run on a VNNI CPU at about half
    the int8 speed. Either way the fix is to rebuild the package on this machine.
    """
    weights = record.get("weights")
    if weights not in ("int8", "uint8"):
        return None
    cpu = cpu or info()
    if weights == _fitted_int8(cpu):
        return None
    built = record.get("cpu_kind", "another")
    if weights == "int8":
        return (
            f"its int8 weights were chosen for a CPU of kind {built}; this {cpu.kind} CPU has "
            "no VNNI, so their sums can saturate (results may differ)"
        )
    return (
        f"its uint8 weights were chosen for a CPU of kind {built}; this {cpu.kind} CPU runs "
        "int8 weights about twice as fast"
    )
