"""Runs a whole shape on one machine, one process per service: for tests, benchmarks and
trying the shop out without a cluster."""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from shop.config import Role


class Shape(enum.StrEnum):
    MONOLITH = "monolith"
    MSA = "msa"


SERVICES_BY_SHAPE: dict[Shape, tuple[Role, ...]] = {
    Shape.MONOLITH: (Role.MONOLITH,),
    # In start order: a service's upstreams come before it.
    Shape.MSA: (Role.INVENTORY, Role.PAYMENT, Role.ORDER, Role.GATEWAY),
}


@dataclass(frozen=True)
class ServiceSpec:
    role: Role
    port: int
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def plan_stack(
    shape: Shape,
    *,
    ports: Mapping[Role, int],
    database_urls: Mapping[Role, str],
    redis_urls: Mapping[Role, str],
    settings: Mapping[str, str] | None = None,
) -> list[ServiceSpec]:
    """The services of a shape and each one's SHOP_* environment, upstreams first."""
    common = {"SHOP_MIGRATE": "1", "SHOP_HOST": "127.0.0.1", **(settings or {})}

    def url(role: Role) -> str:
        return f"http://127.0.0.1:{ports[role]}"

    specs = []
    for role in SERVICES_BY_SHAPE[shape]:
        env = {**common, "SHOP_ROLE": role.value}
        if role in database_urls:
            env["SHOP_DATABASE_URL"] = database_urls[role]
        if role in redis_urls:
            env["SHOP_REDIS_URL"] = redis_urls[role]
        if role is Role.ORDER:
            env["SHOP_INVENTORY_URL"] = url(Role.INVENTORY)
            env["SHOP_PAYMENT_URL"] = url(Role.PAYMENT)
        if role is Role.GATEWAY:
            env["SHOP_ORDER_URL"] = url(Role.ORDER)
            env["SHOP_CATALOG_URL"] = url(Role.INVENTORY)
        specs.append(ServiceSpec(role, ports[role], env))
    return specs


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.spec.url

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shop.cli", "serve", "--port", str(self.spec.port)],
            env={**os.environ, **self.spec.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout_seconds: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.spec.role} exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{self.spec.role} not ready in {timeout_seconds}s:\n{self.log_tail()}")

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM, as a rollout would, then SIGKILL if it does not go in time."""
        if self.process is not None and self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(grace_seconds)
        self._close_log()

    def kill(self) -> None:
        """SIGKILL: the process dies mid-request, as on an OOM kill or a node loss."""
        if self.process is not None and self.alive():
            self.process.kill()
            self.process.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@dataclass
class Stack:
    shape: Shape
    services: dict[Role, ServiceProcess]

    @property
    def entry_url(self) -> str:
        entry = Role.MONOLITH if self.shape is Shape.MONOLITH else Role.GATEWAY
        return self.services[entry].url

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()


def start_stack(specs: list[ServiceSpec], shape: Shape, log_dir: Path) -> Stack:
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(shape, {})
    try:
        for spec in specs:
            service = ServiceProcess(spec, log_dir / f"{spec.role.value}.log")
            stack.services[spec.role] = service
            service.start()
            service.wait_ready()
    except BaseException:
        stack.stop()
        raise
    return stack
