"""The cluster the end-to-end suite runs on: the project's local node, or any other cluster
(kind in users' CI) when GAMEDAY_E2E_KUBECONFIG names its kubeconfig (`make e2e-kind` does).
The shop in both shapes is deployed when it is not already there."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import config

from tests.fixtures.cluster import CACHE, Cluster, ensure_cluster
from tests.integration.test_manifests_shop import shops_deployed

# Fresh nodes start a dozen pods at once from freshly loaded images.
DEPLOY_TIMEOUT = 480


@dataclass(frozen=True)
class AnyCluster(Cluster):
    """A Cluster whose kubectl is the one on PATH (kind users and CI have one there)."""

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        binary = shutil.which("kubectl") or str(CACHE / "bin" / "kubectl")
        done = subprocess.run(
            [binary, "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout


@pytest.fixture(scope="session")
def e2e_cluster() -> Cluster:
    other = os.environ.get("GAMEDAY_E2E_KUBECONFIG")
    if not other:
        return ensure_cluster()
    path = Path(other)
    if not path.exists():
        pytest.fail(f"GAMEDAY_E2E_KUBECONFIG={path} does not exist")
    api = config.new_client_from_config(str(path))  # type: ignore[no-untyped-call]  # kubernetes.config is unannotated
    return AnyCluster(path, api)


@pytest.fixture(scope="session")
def deployed(e2e_cluster: Cluster) -> Iterator[Cluster]:
    with shops_deployed(e2e_cluster, DEPLOY_TIMEOUT):
        yield e2e_cluster
