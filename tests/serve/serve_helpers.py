"""Starting and stopping real ``sensekit serve`` subprocesses on 127.0.0.1.

Each server gets a free port, is polled on /health until it answers (no fixed sleep),
and is stopped (terminate, then kill) by its owner. Its log goes to a file that a
failing test can show.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

STARTUP_S = 300  # loading every model on a busy 2-core machine
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


class Server:
    """One ``sensekit serve`` process; ``url(path)`` builds request URLs."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "sensekit.cli",
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            *args,
        ]
        self._log = open(log_path, "wb")  # noqa: SIM115 -- closed in stop(), the server outlives this call
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def url(self, path: str) -> str:
        return self.base + path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = STARTUP_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            try:
                if httpx.get(self.url("/health"), timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()


def start_server(args: list[str], log_path: Path) -> Server:
    server = Server(args, log_path)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server
