"""kubectl, the one way the demo (and the cluster tests) reach the cluster: the binary on
PATH, else the local cluster's, with one kubeconfig; every call bounded in time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gameday_demo.errors import DemoError

Json = dict[str, Any]

CACHE = Path(os.environ.get("GAMEDAY_CACHE", "/var/cache/gameday"))
STATE = Path(os.environ.get("GAMEDAY_STATE", "/var/lib/gameday/cluster"))


@dataclass(frozen=True)
class Kubectl:
    """kubectl with one kubeconfig; every call bounded in time."""

    kubeconfig: Path | None = None
    binary: str = ""

    @classmethod
    def from_env(cls, kubeconfig: Path | None = None) -> Kubectl:
        binary = shutil.which("kubectl") or str(CACHE / "bin" / "kubectl")
        if kubeconfig is None and not os.environ.get("KUBECONFIG"):
            local = STATE / "kubeconfig"
            kubeconfig = local if local.exists() else None
        return cls(kubeconfig, binary)

    def command_line(self) -> list[str]:
        """kubectl and its kubeconfig, as a child process is to call it."""
        cmd = [self.binary]
        if self.kubeconfig is not None:
            cmd += ["--kubeconfig", str(self.kubeconfig)]
        return cmd

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: float = 120,
        check: bool = True,
        step: str = "kubectl",
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*self.command_line(), *args]
        try:
            done = subprocess.run(
                cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError as err:
            raise DemoError(step, f"no kubectl at {self.binary}", "make binaries") from err
        except subprocess.TimeoutExpired as err:
            raise DemoError(step, f"kubectl {' '.join(args)} took over {timeout:g}s") from err
        if check and done.returncode != 0:
            raise DemoError(
                step,
                f"kubectl {' '.join(args[:6])} failed: {done.stderr.strip()[-600:]}",
            )
        return done

    def json(self, *args: str, step: str = "kubectl", timeout: float = 60) -> Json:
        out = self.run(*args, "-o", "json", step=step, timeout=timeout).stdout
        loaded = json.loads(out)
        if not isinstance(loaded, dict):
            raise DemoError(step, f"kubectl {' '.join(args)} answered no object")
        return loaded

    def maybe_json(self, *args: str, step: str = "kubectl") -> Json | None:
        done = self.run(*args, "-o", "json", check=False, step=step)
        if done.returncode != 0:
            if "NotFound" in done.stderr or "not found" in done.stderr:
                return None
            raise DemoError(step, f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        loaded = json.loads(done.stdout)
        return loaded if isinstance(loaded, dict) else None
