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

_DOMAIN_CLIS = ("sensekit.vision.cli", "sensekit.language.cli", "sensekit.speech.cli",
                "sensekit.sound.cli", "sensekit.core.tools_cli")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sensekit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", required=True)
    models = _add_models(subparsers)
    demo = subparsers.add_parser("demo", help="run every domain on bundled real media")
    demo.set_defaults(func=_demo)
    for module_name in _DOMAIN_CLIS:
        module = importlib.import_module(module_name)
        if module_name.endswith("tools_cli"):
            module.add_cli(models._subparsers._group_actions[0])  # type: ignore[attr-defined]
        else:
            module.add_cli(subparsers)
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
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
