"""A real Ethereum node for tests and benchmarks: anvil, from the npm package of Foundry.

``ensure_anvil`` finds ``anvil`` on PATH or installs ``@foundry-rs/anvil-linux-amd64`` with npm
into the flexmarket cache; ``Anvil`` runs one on a free loopback port and stops it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

from ledger.compile import cache_dir

ANVIL_PACKAGE = "@foundry-rs/anvil-linux-amd64@1.7.1"


class AnvilUnavailable(RuntimeError):
    """npm is missing or the package could not be installed."""


def ensure_anvil() -> str:
    """Path of an anvil binary, installing it with npm on first use."""
    found = shutil.which("anvil")
    if found:
        return found
    prefix = cache_dir().parent / "anvil"
    binary = prefix / "node_modules" / ".bin" / "anvil"
    if binary.exists():
        return str(binary)
    npm = shutil.which("npm")
    if npm is None:
        raise AnvilUnavailable("npm is not installed, so anvil cannot be installed")
    prefix.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                           ANVIL_PACKAGE], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not binary.exists():
        raise AnvilUnavailable(f"npm install {ANVIL_PACKAGE} failed: {proc.stderr[-400:]}")
    return str(binary)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Anvil:
    """``with Anvil() as url:`` runs anvil (automining) on 127.0.0.1 for the block's duration."""

    def __init__(self, binary: str | None = None, block_gas_limit: int = 60_000_000) -> None:
        self.binary = binary or ensure_anvil()
        self.port = _free_port()
        self.block_gas_limit = block_gas_limit
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(
            [self.binary, "--host", "127.0.0.1", "--port", str(self.port), "--silent",
             "--gas-limit", str(self.block_gas_limit), "--accounts", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self.url
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise AnvilUnavailable("anvil did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
