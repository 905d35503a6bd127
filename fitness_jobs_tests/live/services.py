"""Subprocesses and GraphQL for the live tests.

Each service runs in its own session (``start_new_session=True``), so it leads a process
group that also holds what it starts: the code server, and (for the daemon) the run
workers.  ``stop`` signals that group by the leader's process id: SIGTERM, a bounded
wait, then SIGKILL.  stdout and stderr go to files, whose tails end up in every failure
message.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

TAIL_LINES = 40
LOG_MARKER = "----- log tail:"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<unreadable: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Service:
    """One started process (the leader of its own process group) and its log files."""

    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        return self.process.poll()

    def logs(self, lines: int = TAIL_LINES) -> str:
        status = self.exited()
        state = "running" if status is None else f"exited with {status}"
        return (
            f"{LOG_MARKER} {self.name} (pid {self.pid}, {state}) stdout {self.stdout}\n"
            f"{tail(self.stdout, lines)}\n"
            f"{LOG_MARKER} {self.name} stderr {self.stderr}\n{tail(self.stderr, lines)}"
        )

    def terminate(self) -> None:
        """SIGTERM to the process group (the leader's pid is the group id)."""
        _signal_group(self.pid, signal.SIGTERM)

    def stop(self, deadline: float) -> None:
        """Wait for the leader until ``deadline`` (``time.monotonic()``), SIGKILL the group if
        it is still there, then give what it started a moment and SIGKILL the rest."""
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        settle = time.monotonic() + 3.0
        while _group_alive(self.pid) and time.monotonic() < settle:
            time.sleep(0.2)
        _signal_group(self.pid, signal.SIGKILL)


def stop_all(services: Sequence[Service], grace_s: float = 5.0) -> None:
    """SIGTERM every group at once, wait up to ``grace_s`` in all, then SIGKILL."""
    for service in services:
        service.terminate()
    deadline = time.monotonic() + grace_s
    for service in services:
        service.stop(deadline)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def start_service(
    name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_dir: Path
) -> Service:
    stdout = log_dir / f"{name}.stdout.log"
    stderr = log_dir / f"{name}.stderr.log"
    with stdout.open("ab") as out, stderr.open("ab") as err:
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    return Service(name, process, stdout, stderr)


class GraphQLError(AssertionError):
    pass


@dataclass
class GraphQL:
    """POSTs to the webserver's ``/graphql`` like the UI does; GraphQL errors raise."""

    url: str
    describe: Callable[[], str] = field(default=lambda: "")

    def __call__(
        self, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.load(response)
        if payload.get("errors"):
            raise GraphQLError(
                f"GraphQL errors: {json.dumps(payload['errors'], indent=1)}\n{self.describe()}"
            )
        data: dict[str, Any] = payload["data"]
        return data


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 1.0,
    describe: Callable[[], str] = lambda: "",
) -> T:
    """Call ``probe`` until it returns something other than None; fail after ``timeout_s``
    with ``what`` and ``describe()`` (the services' log tails)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s:.0f}s waiting for {what}\n{describe()}"
            )
        time.sleep(interval_s)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False
