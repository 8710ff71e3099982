"""Where the demo reads the repository's files from (examples/, manifests/): `--repo DIR`, else
the checkout holding the current directory, else the checkout the package was installed from.

The demo is an installed package, but what it deploys and applies lives in the repository, not
in the package: a wheel installed elsewhere has no examples/ beside it, so the checkout is
looked for, and named in the error when none is found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gameday_demo.errors import DemoError

# Files only this repository holds together: a directory holding both is its checkout.
MARKERS: tuple[str, ...] = ("examples/order-spike-monolith.yaml", "manifests/deploy-shop.sh")
# The checkout an editable install runs from (demo/gameday_demo/ is two levels below its root).
PACKAGE_CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Repo:
    """A checkout of the repository: every file the demo reads is found under its root."""

    root: Path

    def example(self, name: str) -> Path:
        return self.root / "examples" / name

    def manifests(self, *parts: str) -> Path:
        return self.root.joinpath("manifests", *parts)

    def relative(self, path: Path) -> Path:
        """`path` as the repository names it (for progress lines)."""
        return path.relative_to(self.root)


def holds_markers(directory: Path) -> bool:
    return all((directory / marker).is_file() for marker in MARKERS)


def checkout_above(start: Path) -> Path | None:
    """The first directory from `start` upwards that is a checkout of the repository."""
    start = start.resolve()
    return next((d for d in (start, *start.parents) if holds_markers(d)), None)


def not_a_checkout(why: str, looked_in: str) -> DemoError:
    return DemoError(
        "repository",
        f"{why}: looked for {' and '.join(MARKERS)} in {looked_in}",
        "run gameday demo inside the repository's checkout, or give it with --repo DIR",
    )


def find_repo(
    given: Path | None = None,
    cwd: Path | None = None,
    package_checkout: Path = PACKAGE_CHECKOUT,
) -> Repo:
    """The repository the demo reads: `given` (`--repo`) must be a checkout; without it, the
    checkout holding `cwd` (default: the current directory), else the package's own."""
    if given is not None:
        if not holds_markers(given):
            raise not_a_checkout(f"--repo {given} is not a checkout of the repository", str(given))
        return Repo(given.resolve())
    here = Path.cwd() if cwd is None else cwd
    found = checkout_above(here)
    if found is not None:
        return Repo(found)
    if holds_markers(package_checkout):
        return Repo(package_checkout.resolve())
    raise not_a_checkout(
        "no checkout of the repository found",
        f"{here} and every directory above it, and in {package_checkout}",
    )


def repo_or_found(repo: Repo | None) -> Repo:
    """The repository a caller gave, else the one found from the current directory."""
    return find_repo() if repo is None else repo
