"""Servers for the serve tests: real ``sensekit serve`` subprocesses on 127.0.0.1
(see serve_helpers.py), stopped when their fixture ends."""

from __future__ import annotations

import httpx
import pytest
from serve_helpers import start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Every task of the table, a 4 MiB upload limit, two workers."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    running = start_server(["--max-upload-mb", "4", "--workers", "2", "--queue", "64"], log)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def client(server):
    with httpx.Client(base_url=server.base, timeout=300) as session:
        yield session
