"""`gameday compare`: runs grouped by architecture and playbook, with each group's MTTR
(median and range), downtime and what its steps added for as long as they were in effect."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from gameday_operator.cli import main
from gameday_operator.model import format_time
from gameday_operator.model.status import Footprint, StepRecord
from gameday_operator.report.compare import compare, outcome, playbook_name

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
STEPS: list[dict[str, Any]] = [
    {"kind": "Scale", "scale": {"replicas": 3}},
    {"kind": "SetConfig", "setConfig": {"name": "SHOP_CACHE_ENABLED", "value": "true"}},
    {"kind": "Rollout", "rollout": {"strategy": "Recreate"}, "withPrevious": True},
]


def run(
    name: str,
    *,
    architecture: str = "monolith",
    steps: list[dict[str, Any]] | None = None,
    phase: str = "Recovered",
    mttr: float = 60.0,
    downtime: float = 0.0,
    added_pods: int = 0,
) -> dict[str, Any]:
    remediation: dict[str, Any] = {"after": "20s"}
    if steps:
        remediation["steps"] = steps
    took_effect = T0 + timedelta(seconds=30)
    record = StepRecord(
        0,
        "Scale",
        T0,
        took_effect,
        footprint_before=Footprint(2, 0.2, 128),
        footprint_after=Footprint(2 + added_pods, 0.1 * (2 + added_pods), 64 * (2 + added_pods)),
    )
    return {
        "kind": "FailureScenario",
        "metadata": {"name": name},
        "spec": {
            "target": {"architecture": architecture, "deployment": "shop"},
            "faults": [{"type": "CPUStress", "cpuStress": {"load": 50}}],
            "remediation": remediation,
        },
        "status": {
            "phase": phase,
            "timeline": {"completedAt": format_time(took_effect + timedelta(seconds=120))},
            "measurements": {"mttrSeconds": mttr, "downtimeSeconds": downtime},
            "steps": [record.to_dict()],
        },
    }


def test_a_playbook_is_named_by_its_stages() -> None:
    assert playbook_name(run("a", steps=STEPS)["spec"]) == "Scale → SetConfig+Rollout"
    assert playbook_name(run("b")["spec"]) == "Resize (default)"
    assert playbook_name(run("c", architecture="msa")["spec"]) == "Scale+Rollout (default)"


def test_runs_are_grouped_by_playbook_with_the_mttr_of_those_that_recovered() -> None:
    runs = [
        run("d1", mttr=100, downtime=10),
        run("d2", mttr=60, downtime=0),
        run("d3", phase="Failed", mttr=999, downtime=40),
        run("p1", steps=STEPS, mttr=30, added_pods=1),
        run("m1", architecture="msa", mttr=45),
    ]
    default, played, msa = compare(outcome(r) for r in runs)
    assert (default.playbook, default.runs, default.recovered) == ("Resize (default)", 3, 2)
    assert (default.mttr_median, default.mttr_min, default.mttr_max) == (80, 60, 100)
    assert default.downtime_median == 10
    assert (played.playbook, played.mttr_median) == ("Scale → SetConfig+Rollout", 30)
    # One pod and 0.1 CPU added, held for the 120 s from its effect to the end.
    assert played.pod_minutes_median == 2.0
    assert round(played.cpu_seconds_median, 6) == 12.0
    assert msa.architecture == "msa"


def test_steps_started_together_are_counted_once() -> None:
    # Each step of a stage records the stage's footprint before and after: the MSA default's
    # HPA scale-out and rolling update added one pod between them, not two.
    together = run("m2", architecture="msa", added_pods=1)
    (record,) = together["status"]["steps"]
    together["status"]["steps"] = [record, {**record, "index": 1, "kind": "Rollout"}]
    (row,) = compare([outcome(together)])
    assert row.pod_minutes_median == 2.0  # one pod for 120 s
    assert round(row.cpu_seconds_median, 6) == 12.0


def test_the_command_prints_the_table_from_exported_runs(tmp_path: Path) -> None:
    listed = tmp_path / "runs.yaml"
    listed.write_text(
        yaml.safe_dump({"kind": "List", "items": [run("d1"), run("p1", steps=STEPS)]})
    )
    single = tmp_path / "one.yaml"
    single.write_text(yaml.safe_dump(run("d2", mttr=80)))
    result = CliRunner().invoke(main, ["compare", str(listed), str(single)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("| architecture | playbook | runs |")
    assert "| monolith | Resize (default) | 2 | 2 | 70 s (60-80) |" in result.output
    assert "| monolith | Scale → SetConfig+Rollout | 1 | 1 | 60 s (60-60) |" in result.output
    broken = copy.deepcopy(run("x"))
    del broken["status"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(broken))
    refused = CliRunner().invoke(main, ["compare", str(tmp_path / "bad.yaml")])
    assert refused.exit_code != 0 and "no status" in refused.output
