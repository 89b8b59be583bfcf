"""The README's commands run as a developer runs them: `make <target>` and `python -m tools.*` from
the repository root, with the repository's .venv (every make target depends on `venv`), in the
environment of a shell rather than the one this test session set up for in-process AWS."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from bench.soak import answers, free_port
from tools import template

ROOT = template.ROOT
README = ROOT / "README.md"
PYTHON = ROOT / ".venv" / "bin" / "python"
# What tests/conftest.py, an in-process server or an outer `make` put in the environment, the
# variables the make targets read, and PYTHONUNBUFFERED (what the commands print must show without
# it): none of them is in the shell the README's commands are typed in.
SESSION_VARIABLES = {
    *template.local_environment(),
    *("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PORT", "MOTO_PORT", "AWS_LOCAL_PORT", "BUILD_DIR", "FILE"),
    *("SECONDS", "PYTHONUNBUFFERED"),
}
SESSION_PREFIXES = ("AWS_", "STRIPE_", "DODO_", "POWERTOOLS_")
STARTUP_SECONDS = 120
STOP_SECONDS = 30


def shell_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name not in SESSION_VARIABLES and not name.startswith(SESSION_PREFIXES)
    }


def run(command: list[str] | str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run to completion (a string through bash, with pipefail); output captured, stderr in stdout."""
    argv = ["bash", "-o", "pipefail", "-c", command] if isinstance(command, str) else command
    return subprocess.run(  # noqa: S603 (the test's own commands)
        argv,
        cwd=ROOT,
        env=shell_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def running(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`command` in its own process group, its output in `log`; the whole group (make and what it
    started) is stopped on the way out."""
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (the test's own commands)
            command,
            cwd=ROOT,
            env=shell_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop `process`'s group with SIGTERM (`kill -TERM -- -<pgid>`); one that needs SIGKILL fails."""
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"{process.args} did not stop within {STOP_SECONDS} s of SIGTERM") from None


def _signal_group(process: subprocess.Popen[bytes], signal_number: int) -> None:
    with suppress(ProcessLookupError):  # the group has ended
        os.killpg(process.pid, signal_number)


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited ({process.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{process.args} not ready in {STARTUP_SECONDS} s:\n{log.read_text()}")
        time.sleep(0.2)


@contextmanager
def make_dev(log: Path) -> Iterator[str]:
    """`make dev` on a free PORT, once the local server answers: its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(["make", "dev", f"PORT={port}"], log) as process:
        wait_until(lambda: answers(url), process, log)
        yield url


def readme_commands(containing: str) -> list[str]:
    """The lines of the README's one ```sh block that contains `containing`."""
    blocks = [
        block for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S) if containing in block
    ]
    assert len(blocks) == 1, f"{len(blocks)} sh blocks of README.md contain {containing!r}"
    return [line for line in blocks[0].splitlines() if line.strip()]
