"""The ``sensekit`` command: thin subcommands that call the public API and print results.

Domain subcommands live beside their domain (``sensekit/<domain>/cli.py``, each with
an ``add_cli(subparsers)``) and are imported only if that module exists, so the CLI
starts fast and never breaks because one domain is missing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from sensekit.core.errors import SensekitError

_DOMAIN_CLIS = (
    "sensekit.vision.cli",
    "sensekit.language.cli",
    "sensekit.speech.cli",
    "sensekit.sound.cli",
    "sensekit.tools.cli",
    "sensekit.serve.cli",
    "sensekit.batch.cli",
)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _models_list(args: argparse.Namespace) -> int:
    from sensekit.core import registry

    for name, recipe in sorted(registry.recipes().items()):
        state = "built" if registry.is_built(name) else "not built"
        print(f"{name:<22} {recipe.task:<24} {state:<10} {recipe.license:<12} {recipe.summary}")
    return 0


def _models_build(args: argparse.Namespace) -> int:
    from sensekit.core import registry

    names = sorted(registry.recipes()) if args.all else args.names
    if not names:
        raise SensekitError("name a model to build, or pass --all")
    failed = []
    for name in names:
        try:
            path = registry.build(name, force=args.force, progress=True)
            print(f"{name}: {path}")
        except SensekitError as e:
            failed.append(name)
            print(f"{name}: FAILED: {e}", file=sys.stderr)
    return 1 if failed else 0


def _models_info(args: argparse.Namespace) -> int:
    from sensekit.core import registry

    print_json(registry.info(args.name))
    return 0


def _models_verify(args: argparse.Namespace) -> int:
    from sensekit.core import registry
    from sensekit.core.package import ModelPackage

    names = args.names or [n for n in registry.available() if registry.is_built(n)]
    bad = 0
    for name in names:
        path = registry.package_path(name) if not name.endswith(".skmodel") else name
        try:
            ModelPackage.open(path, verify=True)
            print(f"{name}: ok")
        except SensekitError as e:
            bad += 1
            print(f"{name}: FAILED: {e}")
    return 1 if bad else 0


def _doctor(args: argparse.Namespace) -> int:
    """What sensekit runs on: versions, CPU and instruction sets, kernels, cache."""
    import platform

    import onnxruntime

    from sensekit import __version__
    from sensekit.accelerate import cpu, dsp
    from sensekit.core import registry

    built = [n for n in registry.available() if registry.is_built(n)]
    lines = {
        "sensekit": __version__,
        "python": platform.python_version(),
        "onnxruntime": f"{onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())})",
        "cpu": cpu.describe().removeprefix("CPU: "),
        "int8 weights": (
            f"{cpu.int8_weights()} (built packages fit this {cpu.info().kind} CPU; "
            f"{'VNNI: int8 is exact and fastest' if cpu.info().vnni else 'no VNNI: uint8 does not saturate'})"
        ),
        "log-mel kernel": (
            f"C ({dsp._melkernel.isa()})"
            if dsp.native_kernels()
            else "numpy (C kernel not built or SENSEKIT_NATIVE=0)"
        ),
        "cache": str(registry.home()),
        "models built": ", ".join(built) or "none",
    }
    if args.json:
        print_json(lines)
    else:
        for key, value in lines.items():
            print(f"{key + ':':<16}{value}")
    return 0


def _add_models(subparsers: Any) -> argparse.ArgumentParser:
    models = subparsers.add_parser("models", help="list, build, inspect and verify models")
    sub = models.add_subparsers(dest="models_command", required=True)
    sub.add_parser("list", help="the zoo and what is built").set_defaults(func=_models_list)
    build = sub.add_parser("build", help="build models from their recipes into the cache")
    build.add_argument("names", nargs="*")
    build.add_argument("--all", action="store_true", help="build every default model")
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.set_defaults(func=_models_build)
    info = sub.add_parser("info", help="print a model's manifest")
    info.add_argument("name")
    info.set_defaults(func=_models_info)
    verify = sub.add_parser("verify", help="re-hash every file of built packages")
    verify.add_argument("names", nargs="*")
    verify.set_defaults(func=_models_verify)
    return models


def _option_type(field: Any) -> Any:
    """argparse type of an options field, from its annotation (a string under PEP 563)."""
    annotation = str(field.type)
    for name, kind in (("bool", None), ("int", int), ("float", float)):
        if annotation.startswith(name):
            return kind
    return str


def _add_table_task(subparsers: Any, spec: Any) -> None:
    """A verb generated from the task table: inputs as arguments, options as flags."""
    parser = subparsers.add_parser(spec.name, help=spec.summary)
    file_inputs = [i for i in spec.inputs if i in ("image", "audio")]
    parser.add_argument(
        "files", nargs="+", metavar=file_inputs[0].upper() if file_inputs else "TEXT"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--model", help=f"zoo name or .skmodel path ({spec.default_model})")
    for name, field in spec.option_fields().items():
        kind = _option_type(field)
        flag = "--" + name.replace("_", "-")
        if kind is None:
            parser.add_argument(flag, dest=f"option_{name}", action="store_true", default=None)
        elif str(field.type).startswith("tuple"):
            parser.add_argument(
                flag, dest=f"option_{name}", nargs="+", default=None, metavar=name.upper()
            )
        else:
            parser.add_argument(
                flag, dest=f"option_{name}", type=kind, default=None, metavar=name.upper()
            )
    parser.set_defaults(func=_run_table_task, spec=spec)


def _run_table_task(args: argparse.Namespace) -> int:
    from sensekit.core.tasks import to_jsonable

    spec = args.spec
    options = {
        k.removeprefix("option_"): tuple(v) if isinstance(v, list) else v
        for k, v in vars(args).items()
        if k.startswith("option_") and v is not None
    }
    task = spec.create(args.model, **options)
    report = {path: to_jsonable(spec.run(task, path)) for path in args.files}
    if args.json:
        print_json(report if len(args.files) > 1 else report[args.files[0]])
        return 0
    for path, result in report.items():
        print(f"{path}:")
        for item in result if isinstance(result, list) else [result]:
            print(f"  {item}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sensekit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", required=True)
    models = _add_models(subparsers)
    demo = subparsers.add_parser("demo", help="run every domain on bundled real media")
    demo.set_defaults(func=_demo)
    doctor = subparsers.add_parser("doctor", help="versions, CPU instruction sets, kernels, cache")
    doctor.add_argument("--json", action="store_true", help="print as JSON")
    doctor.set_defaults(func=_doctor)
    for module_name in _DOMAIN_CLIS:
        module = importlib.import_module(module_name)
        if module_name == "sensekit.tools.cli":  # model tools are verbs of `sensekit models`
            module.add_cli(models._subparsers._group_actions[0])  # type: ignore[attr-defined]
        else:
            module.add_cli(subparsers)
    from sensekit.core.tasks import TASKS

    for spec in TASKS.values():  # tasks without a hand-written verb get a generated one
        if spec.name not in subparsers.choices:
            _add_table_task(subparsers, spec)
    return parser


def _version() -> str:
    from sensekit import __version__

    return f"sensekit {__version__}"


def _demo(args: argparse.Namespace) -> int:
    from sensekit.demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SensekitError as e:
        print(f"sensekit: error: {e}", file=sys.stderr)
        for note in getattr(e, "__notes__", ()):  # e.g. where a failed build's log is
            print(f"sensekit: {note}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `sensekit ... | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
