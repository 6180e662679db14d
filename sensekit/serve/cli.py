"""``sensekit serve [--host H] [--port P] [--models classify,...] [--token T] ...``."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from sensekit.core.errors import SensekitError


def add_cli(subparsers: Any) -> None:
    """Registers the ``serve`` subcommand."""
    from sensekit.serve import config as defaults

    parser = subparsers.add_parser(
        "serve",
        help="a local HTTP API and web page for the models",
        description="Serves every task of sensekit over HTTP (POST /v1/<task>) with a page "
        "at / and docs at /docs. Listens on 127.0.0.1 unless told otherwise.",
    )
    parser.add_argument(
        "--host",
        default=defaults.DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1, this machine only); "
        "any other needs --token or --insecure",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=defaults.DEFAULT_PORT,
        help=f"TCP port (default {defaults.DEFAULT_PORT})",
    )
    parser.add_argument(
        "--models",
        metavar="TASK[=MODEL],...",
        help="tasks to serve, optionally with a model each, built "
        "first if needed (default: every task whose default model "
        "is built), e.g. classify,detect,transcribe=whisper-base",
    )
    parser.add_argument(
        "--token", help="require 'Authorization: Bearer TOKEN' on /v1 requests (8+ characters)"
    )
    parser.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback --host without a token"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="threads running tasks (default: one per core)"
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=defaults.DEFAULT_MAX_UPLOAD_MB,
        help=f"largest request body (default {defaults.DEFAULT_MAX_UPLOAD_MB:g})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=defaults.DEFAULT_TIMEOUT_S,
        help=f"seconds per request before 504 (default {defaults.DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--queue",
        type=int,
        default=defaults.DEFAULT_QUEUE,
        help=f"requests that may wait for a worker before 503 (default {defaults.DEFAULT_QUEUE})",
    )
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.set_defaults(func=_serve)


def _config(args: argparse.Namespace) -> Any:
    from sensekit.serve.config import ServeConfig, built_models, default_workers, parse_models

    models = parse_models(args.models) if args.models else built_models()
    return ServeConfig(
        host=args.host,
        port=args.port,
        models=models,
        token=args.token,
        insecure=args.insecure,
        workers=args.workers or default_workers(),
        max_upload_mb=args.max_upload_mb,
        timeout=args.timeout,
        queue=args.queue,
    )


def _serve(args: argparse.Namespace) -> int:
    config = _config(args)  # refuses an unsafe or invalid setup before anything starts
    try:
        import uvicorn

        from sensekit.serve.app import create_app
        from sensekit.serve.runner import TaskPool
    except ImportError as e:
        raise SensekitError(
            f"sensekit serve needs the serve extra ({e.name} is missing): "
            f"pip install 'sensekit[serve]'"
        ) from e
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log = logging.getLogger("sensekit.serve")
    pool = TaskPool(config)
    pool.load(log.info)
    from sensekit.core.tasks import TASKS

    unbuilt = [name for name in TASKS if name not in config.models]
    if unbuilt and not args.models:
        log.info(
            "not served, their models are not built: %s (sensekit models build, or --models)",
            ", ".join(unbuilt),
        )
    if config.token is None and config.insecure:
        log.warning(
            "serving on %s without a token (--insecure): anyone who can reach this "
            "address can use it",
            config.host,
        )
    shown = f"[{config.host}]" if ":" in config.host else config.host
    log.info(
        "sensekit serve: http://%s:%d/ (tasks: %s; %d workers, queue %d, token %s)",
        shown,
        config.port,
        ", ".join(config.models),
        config.workers,
        config.queue,
        "required" if config.token else "off",
    )
    uvicorn.run(
        create_app(config, pool),
        host=config.host,
        port=config.port,
        log_level=args.log_level,
        server_header=False,
    )
    return 0
