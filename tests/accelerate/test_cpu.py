"""accelerate.cpu: instruction sets from /proc/cpuinfo of each kind of machine we run on."""

from __future__ import annotations

from sensekit.accelerate import cpu

AVX2_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 vaes
"""
SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: sse4_2 avx f16c fma avx2 avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni amx_tile amx_int8 amx_bf16
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp i8mm sve
CPU implementer\t: 0x41
"""


def _info(text: str) -> cpu.CpuInfo:
    model, features = cpu._from_proc(text)
    return cpu.CpuInfo(model or "unknown CPU", "x86_64", 2, features)


def test_avx2_machine_without_vnni():
    info = _info(AVX2_EPYC)
    assert info.model == "AMD EPYC"
    assert info.features == {"sse4_2", "avx", "f16c", "fma", "avx2"}
    assert info.kind == "avx2" and not info.vnni


def test_avx512_vnni_amx_machine():
    info = _info(SAPPHIRE_RAPIDS)
    assert {"avx512f", "avx512_vnni", "avx_vnni", "amx_int8"} <= info.features
    assert info.kind == "amx" and info.vnni


def test_arm_dot_product():
    info = _info(GRAVITON)
    assert {"neon", "dotprod", "i8mm", "sve"} <= info.features and info.kind == "arm-dotprod"
    assert info.model == "unknown CPU"  # "processor : 0" is not a model name


def test_this_machine_and_the_bench_line(monkeypatch):
    info = cpu.info()
    assert info.cores >= 1 and info.kind in (
        "amx",
        "avx512-vnni",
        "avx-vnni",
        "avx512",
        "avx2",
        "arm-dotprod",
        "arm",
        "baseline",
    )
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    line = info.describe()
    assert line.startswith("CPU: ") and "ISA: " in line and "OPENBLAS_CORETYPE=Haswell" in line


def test_numpy_table_agrees_with_proc_on_x86():
    info = cpu.info()
    if info.machine == "x86_64":
        assert ("avx2" in cpu._from_numpy()) == ("avx2" in info.features)


# -- int8 weights fitted to the CPU -----------------------------------------------------------
def test_int8_weights_follow_the_cpu_kind(monkeypatch):
    monkeypatch.delenv(cpu.INT8_WEIGHTS_ENV, raising=False)
    assert cpu.int8_weights(_info(AVX2_EPYC)) == "uint8"  # no VNNI: u8 x s8 would saturate
    assert cpu.int8_weights(_info(SAPPHIRE_RAPIDS)) == "int8"
    assert cpu.int8_weights(_info(GRAVITON)) == "int8"
    monkeypatch.setenv(cpu.INT8_WEIGHTS_ENV, "int8")
    assert cpu.int8_weights(_info(AVX2_EPYC)) == "int8"  # forced, for tests and benches
    monkeypatch.setenv(cpu.INT8_WEIGHTS_ENV, "uint8")
    assert cpu.int8_weights(_info(SAPPHIRE_RAPIDS)) == "uint8"


def test_a_package_built_for_the_other_kind_says_why_and_how_to_fix():
    avx2, vnni = _info(AVX2_EPYC), _info(SAPPHIRE_RAPIDS)
    from_vnni = cpu.int8_record("int8", vnni)
    assert from_vnni["cpu_kind"] == "amx" and "avx512_vnni" in from_vnni["cpu_features"]
    assert cpu.int8_mismatch(from_vnni, vnni) is None
    assert "saturate" in cpu.int8_mismatch(from_vnni, avx2)
    from_avx2 = cpu.int8_record("uint8", avx2)
    assert cpu.int8_mismatch(from_avx2, avx2) is None
    assert "twice as fast" in cpu.int8_mismatch(from_avx2, vnni)
    assert cpu.int8_mismatch({}, avx2) is None  # float packages: nothing to fit
