"""Where the demo finds the repository's files: --repo, the checkout above the current
directory, the package's own checkout, else an error that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday_demo.errors import DemoError
from gameday_demo.playbooks import PLAYBOOKS
from gameday_demo.repo import MARKERS, PACKAGE_CHECKOUT, Repo, find_repo
from gameday_demo.shapes import INCIDENTS, SHAPES, Shape
from gameday_operator.model import parse_spec


def checkout(root: Path) -> Path:
    for marker in MARKERS:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text("")
    return root


def test_a_given_checkout_is_the_repo(tmp_path: Path) -> None:
    given = checkout(tmp_path / "given")
    other = checkout(tmp_path / "other")
    assert find_repo(given, cwd=other, package_checkout=other) == Repo(given.resolve())


def test_a_given_directory_that_is_no_checkout_is_an_error_naming_repo(tmp_path: Path) -> None:
    checkout(tmp_path / "elsewhere")
    (tmp_path / "given" / "examples").mkdir(parents=True)
    with pytest.raises(DemoError) as raised:
        find_repo(tmp_path / "given", cwd=tmp_path / "elsewhere")
    text = raised.value.explain()
    assert f"--repo {tmp_path / 'given'} is not a checkout" in text
    assert all(marker in text for marker in MARKERS)


def test_one_marker_alone_is_no_checkout(tmp_path: Path) -> None:
    (tmp_path / MARKERS[0]).parent.mkdir(parents=True)
    (tmp_path / MARKERS[0]).write_text("")
    with pytest.raises(DemoError):
        find_repo(tmp_path)


def test_the_checkout_above_the_current_directory_is_found(tmp_path: Path) -> None:
    root = checkout(tmp_path / "work")
    below = root / "docs" / "deep"
    below.mkdir(parents=True)
    package = checkout(tmp_path / "package")
    assert find_repo(cwd=below, package_checkout=package) == Repo(root.resolve())


def test_the_nearest_checkout_wins(tmp_path: Path) -> None:
    outer = checkout(tmp_path)
    inner = checkout(outer / "vendor" / "gameday")
    assert find_repo(cwd=inner / "manifests").root == inner.resolve()


def test_without_a_checkout_above_the_package_checkout_is_used(tmp_path: Path) -> None:
    package = checkout(tmp_path / "package")
    (tmp_path / "outside").mkdir()
    found = find_repo(cwd=tmp_path / "outside", package_checkout=package)
    assert found == Repo(package.resolve())


def test_nothing_found_is_an_error_naming_repo_and_the_markers(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "site-packages").mkdir()
    with pytest.raises(DemoError) as raised:
        find_repo(cwd=tmp_path / "outside", package_checkout=tmp_path / "site-packages")
    err = raised.value
    assert err.step == "repository"
    assert "no checkout of the repository found" in err.why
    assert all(marker in err.why for marker in MARKERS)
    assert str(tmp_path / "outside") in err.why
    assert str(tmp_path / "site-packages") in err.why
    assert "--repo" in err.explain()


def test_the_repo_names_the_files_the_demo_reads(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    assert repo.example("a.yaml") == tmp_path / "examples" / "a.yaml"
    assert repo.manifests("operator") == tmp_path / "manifests" / "operator"
    assert repo.relative(repo.example("a.yaml")) == Path("examples/a.yaml")


def test_this_checkout_holds_every_seed_scenario() -> None:
    # The package's own checkout is this repository: the fallback of an editable install.
    repo = find_repo(PACKAGE_CHECKOUT)
    for shape in SHAPES:
        assert shape.scenario(repo)["kind"] == "FailureScenario"
        assert shape.scenario_name(repo)
    assert repo.manifests("deploy-shop.sh").is_file()
    assert repo.manifests("operator").is_dir()
    assert repo.manifests("observability").is_dir()


@pytest.mark.parametrize("incident", INCIDENTS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_every_incident_has_a_seed_scenario_for_every_shape(incident: str, shape: Shape) -> None:
    played = shape.playing(incident)
    scenario = played.scenario(Repo(PACKAGE_CHECKOUT))
    assert scenario["metadata"]["namespace"] == shape.namespace
    assert scenario["spec"]["target"]["architecture"] == shape.name
    assert scenario["spec"]["target"]["deployment"] == shape.target


@pytest.mark.parametrize(
    ("shape", "name"),
    [(s, name) for s in SHAPES for name in PLAYBOOKS[s.name]],
    ids=lambda x: x.name if isinstance(x, Shape) else str(x),
)
def test_each_compared_playbook_answers_the_seed_incident_as_the_operator_reads_it(
    shape: Shape, name: str
) -> None:
    steps = PLAYBOOKS[shape.name][name]
    document = shape.with_playbook(steps).scenario(Repo(PACKAGE_CHECKOUT))
    spec = parse_spec(document["spec"])
    remediation = document["spec"]["remediation"]
    if steps is None:
        assert spec.remediation.steps == () and "steps" not in remediation
    else:
        assert [s.kind.value for s in spec.remediation.steps] == [s["kind"] for s in steps]
        assert "monolith" not in remediation and "msa" not in remediation
        # The rest of the seed is untouched: the same incident, answered differently.
        seed = shape.scenario(Repo(PACKAGE_CHECKOUT))
        assert document["spec"]["faults"] == seed["spec"]["faults"]
        assert remediation["responseDelay"] == seed["spec"]["remediation"]["responseDelay"]
