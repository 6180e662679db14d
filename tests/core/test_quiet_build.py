"""Model builds are quiet: converters' warnings and C++ logs go to a log file under the
cache, the terminal sees the progress line; a failed build names its log."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging, os, sys, warnings
    from sensekit.core import registry
    from sensekit.core.errors import SourceUnavailable

    def build(ctx):
        os.write(2, b"I tensorflow/core/platform/cpu_feature_guard.cc: noise on fd 2\\n")
        print("absl-style noise on sys.stderr", file=sys.stderr)
        print("Loaded pretrained weights for a converter")  # efficientnet_lite_pytorch does
        warnings.warn("a converter's UserWarning")
        logging.getLogger("tf2onnx").warning("a library's log line")
        ctx.progress("converting")
        if sys.argv[1] == "fail":
            raise SourceUnavailable("the converter gave up")
        from sensekit.core.package import write_package
        import onnx
        from onnx import TensorProto, helper
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        with write_package(ctx.destination, ctx.manifest(graphs={"main": "m.onnx"})) as w:
            onnx.save(helper.make_model(graph), str(w.dir / "m.onnx"))

    logging.basicConfig()  # a handler on sys.stderr made before the build, as apps do
    registry.register(registry.Recipe("noisy", "test", "test", "CC0-1.0", {}, build))
    try:
        registry.build("noisy", progress=True)
    except SourceUnavailable as e:
        print("NOTES", e.__notes__)
    print("after the build", file=sys.stderr)
    """
)


def _run(tmp_path, mode: str) -> subprocess.CompletedProcess:
    env = {"SENSEKIT_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    env.update({k: v for k, v in os.environ.items() if k.startswith(("PYTHON", "HOME"))})
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=env, timeout=120
    )


def test_a_build_prints_its_progress_and_logs_the_rest(tmp_path):
    run = _run(tmp_path, "ok")
    assert run.returncode == 0, run.stderr
    assert "building noisy" in run.stderr and "done" in run.stderr
    for noise in ("noise on fd 2", "absl-style noise", "UserWarning", "a library's log line"):
        assert noise not in run.stderr
    assert "Loaded pretrained" not in run.stdout
    assert "after the build" in run.stderr  # the terminal is back afterwards
    log = (tmp_path / "logs" / "build-noisy.log").read_text()
    for noise in (
        "noise on fd 2",
        "absl-style noise",
        "a converter's UserWarning",
        "a library's log line",
    ):
        assert noise in log


def test_a_failed_build_names_its_log(tmp_path):
    run = _run(tmp_path, "fail")
    assert run.returncode == 0, run.stderr
    assert f"the build's log: {tmp_path / 'logs' / 'build-noisy.log'}" in run.stdout
    assert "noise on fd 2" not in run.stderr and "after the build" in run.stderr
