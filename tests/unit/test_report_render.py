"""The comparison report from recorded runs: every figure in both HTML and Markdown."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gameday_operator.cli import main
from gameday_operator.model import Figures, parse_time
from gameday_operator.model.status import Footprint, StepRecord
from gameday_operator.report.load import (
    load_audit_file,
    load_scenario_file,
    single_scenario,
    split_reference,
)
from gameday_operator.report.render import render_html, render_markdown, write_report
from gameday_operator.report.summary import (
    RunSummary,
    comparison_rows,
    latency_text,
    pick_sides,
    ratio_text,
    seconds_text,
    summarize,
)

DATA = Path(__file__).resolve().parents[1] / "data"
WHEN = datetime(2025, 5, 14, 12, 0, tzinfo=UTC)


def _runs() -> tuple[RunSummary, RunSummary]:
    monolith = summarize(
        load_scenario_file(DATA / "scenario-monolith.yaml"),
        load_audit_file(DATA / "audit-monolith.json"),
    )
    msa = summarize(
        load_scenario_file(DATA / "scenario-msa.json"), load_audit_file(DATA / "audit-msa.json")
    )
    return monolith, msa


def test_recorded_figures_are_read() -> None:
    monolith, msa = _runs()
    assert (monolith.mttr_seconds, monolith.downtime_seconds) == (155.0, 25.0)
    assert (msa.mttr_seconds, msa.downtime_seconds) == (75.0, 0.0)
    assert monolith.peak.p95_seconds == 7.38 and msa.peak.error_ratio == 0.37
    assert msa.blast_radius.affected == ("gateway", "order")
    assert msa.blast_radius.unaffected == ("inventory", "payment")
    assert monolith.audit is not None and (monolith.audit.lost, monolith.audit.checked) == (7, 1843)
    assert msa.services == ("gateway", "order", "inventory", "payment")
    assert [a.kind for a in msa.actions][-2:] == ["HPAScaleOut", "RollingUpdate"]


def test_missing_measurements_are_computed_from_samples() -> None:
    raw = load_scenario_file(DATA / "scenario-monolith.yaml")
    stripped = copy.deepcopy(raw)
    del stripped["status"]["measurements"]
    del stripped["status"]["blastRadius"]
    run = summarize(stripped)
    # Breach at 80 s, recovered at 235 s in the recorded timeline.
    assert run.mttr_seconds == 155.0
    # Samples show the pod down (no ready replica, all requests failing) from 175 s to 200 s.
    assert run.downtime_seconds == 25.0
    assert run.blast_radius.affected == ("monolith",)
    assert run.peak.error_ratio == 1.0
    assert run.audit is None


def _expected_texts(run: RunSummary) -> list[str]:
    assert run.audit is not None
    texts = [
        seconds_text(run.mttr_seconds),
        seconds_text(run.downtime_seconds),
        seconds_text(run.remediation_seconds),
        latency_text(run.peak.p95_seconds),
        latency_text(run.baseline.p95_seconds),
        ratio_text(run.peak.error_ratio),
        f"{run.audit.lost} of {run.audit.checked}",
        f"{run.audit.duplicates} of {run.audit.checked}",
        f"{run.audit.wrong_status} of {run.audit.checked}",
        *run.blast_radius.affected,
        *run.blast_radius.unaffected,
    ]
    for action in run.actions:
        texts += [action.kind, action.target, seconds_text(action.duration_seconds)]
    return texts


def test_every_figure_appears_in_html_and_markdown() -> None:
    monolith, msa = _runs()
    html = render_html(monolith, msa, {"monolith": b"png", "msa": b"png"}, WHEN)
    markdown = render_markdown(monolith, msa, WHEN)
    for run in (monolith, msa):
        for text in _expected_texts(run):
            assert text in html, f"{run.architecture}: {text!r} missing from the HTML"
            assert text in markdown, f"{run.architecture}: {text!r} missing from the Markdown"
    # Concrete values, so that a formatting slip in both places is caught too.
    for text in ["155 s (2.6 min)", "75 s", "25 s", "7.38 s", "4.43 s", "100.0%", "37.0%",
                 "7 of 1843", "1 of 1902", "119 s", "54 s"]:  # fmt: skip
        assert text in html and text in markdown, text


def test_markdown_comparison_table_rows_line_up() -> None:
    monolith, msa = _runs()
    markdown = render_markdown(monolith, msa, WHEN)
    lines = markdown.splitlines()
    start = lines.index("| Figure | Monolith | Microservices |")
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert len(table) == 2 + len(comparison_rows(monolith, msa))
    assert "| MTTR (breach to recovered) | 155 s (2.6 min) | 75 s |" in table
    assert all(re.sub(r"\\\|", "", row).count("|") == 4 for row in table)


def test_shape_verdict_is_stated_either_way() -> None:
    monolith, msa = _runs()
    assert monolith.shape.held and msa.shape.held
    strict = summarize(load_scenario_file(DATA / "scenario-msa.json"))
    markdown = render_markdown(monolith, strict, WHEN)
    assert "- **msa**: held: p95 7.9x baseline" in markdown
    # A run that never got bad enough says so, with the reason.
    doc = load_scenario_file(DATA / "scenario-msa.json")
    for sample in doc["status"]["samples"]:
        sample["errorRatio"] = min(sample["errorRatio"], 0.1)
    mild = summarize(doc)
    assert not mild.shape.held
    text = render_markdown(monolith, mild, WHEN)
    assert "- **msa**: did not hold" in text and "under 30%" in text


def test_html_is_self_contained_and_escaped() -> None:
    monolith, _ = _runs()
    doc = load_scenario_file(DATA / "scenario-msa.json")
    doc["status"]["actions"][0]["detail"] = "<script>alert(1)</script>"
    hostile = summarize(doc)
    html = render_html(monolith, hostile, {"monolith": b"\x89PNG", "msa": b"\x89PNG"}, WHEN)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "data:image/png;base64,iVBORw==" in html
    assert not re.search(r"(src|href)=\"https?:", html)
    assert "<link" not in html


def test_write_report_writes_html_markdown_and_plots(tmp_path: Path) -> None:
    monolith, msa = _runs()
    paths = write_report(monolith, msa, tmp_path / "out", WHEN)
    assert paths.html.read_text().startswith("<!DOCTYPE html>")
    assert paths.html.read_text().count("data:image/png;base64,") == 2
    for plot in paths.plots:
        assert plot.read_bytes().startswith(b"\x89PNG") and plot.stat().st_size > 20_000
        assert f"]({plot.name})" in paths.markdown.read_text()


def test_pick_sides() -> None:
    monolith, msa = _runs()
    assert pick_sides([msa, monolith]) == (monolith, msa)
    with pytest.raises(ValueError, match="exactly one msa run, got 0"):
        pick_sides([monolith])
    with pytest.raises(ValueError, match="exactly one monolith run, got 2"):
        pick_sides([monolith, monolith, msa])


def test_single_scenario_accepts_a_one_item_list_and_rejects_others() -> None:
    doc: dict[str, Any] = load_scenario_file(DATA / "scenario-msa.json")
    assert single_scenario({"kind": "List", "items": [doc]}, "x") is doc
    with pytest.raises(ValueError, match="a list of 2 objects"):
        single_scenario({"kind": "List", "items": [doc, doc]}, "x")
    with pytest.raises(ValueError, match="no status"):
        single_scenario({"kind": "FailureScenario", "spec": {}}, "x")
    with pytest.raises(ValueError, match="expected FailureScenario"):
        single_scenario({"kind": "Pod", "status": {}}, "x")


def test_split_reference() -> None:
    assert split_reference("shop-msa/order-spike") == ("shop-msa", "order-spike")
    for bad in ["order-spike", "/x", "ns/", "a/b/c"]:
        with pytest.raises(ValueError, match="NAMESPACE/NAME"):
            split_reference(bad)


def test_cli_writes_the_report_and_prints_paths(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--monolith", str(DATA / "scenario-monolith.yaml"),
            "--msa", str(DATA / "scenario-msa.json"),
            "--audit-monolith", str(DATA / "audit-monolith.json"),
            "--audit-msa", str(DATA / "audit-msa.json"),
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"HTML report:      {out / 'report.html'}" in result.output
    assert f"Markdown summary: {out / 'report.md'}" in result.output
    assert "7 of 1843" in (out / "report.md").read_text()


def test_cli_rejects_a_run_on_the_wrong_side(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--monolith", str(DATA / "scenario-msa.json"),
            "--msa", str(DATA / "scenario-msa.json"),
            "--out", str(tmp_path),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "spec.target.architecture is 'msa'" in result.output


def test_a_bad_audit_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "audit.json"
    bad.write_text(json.dumps({"lost": []}))
    with pytest.raises(ValueError, match="shop audit --json"):
        load_audit_file(bad)


def test_action_detail_keeps_short_fields_and_leaves_manifests_out() -> None:
    from gameday_operator.report.summary import detail_text

    detail = {
        "job": "gd-x-load",
        "manifest": {"kind": "Job", "spec": {"template": {}}},
        "patch": {"spec": {"minReplicas": 4}},
    }
    assert detail_text(detail) == 'job=gd-x-load, patch={"spec":{"minReplicas":4}}'
    assert detail_text("x" * 500).endswith("…") and len(detail_text("x" * 500)) == 160
    assert detail_text(None) == ""


def test_mttr_is_shown_decomposed() -> None:
    raw = load_scenario_file(DATA / "scenario-monolith.yaml")
    run = summarize(raw)
    parts = run.mttr_parts
    assert parts.respond is not None and parts.repair is not None and parts.verify is not None
    # The legs add up to the MTTR the operator recorded (to its rounding).
    assert parts.respond + parts.repair + parts.verify == pytest.approx(run.mttr_seconds, abs=0.01)
    rows = {row.label: row.monolith for row in comparison_rows(run, run)}
    assert rows["… time to respond (breach to action)"] == seconds_text(parts.respond)
    assert rows["… time to verify (SLO held)"] == seconds_text(parts.verify)
    assert rows["Time to detect (injected to breach)"] == seconds_text(parts.detect)


def test_routes_and_cost_from_the_cluster_are_rendered() -> None:
    from gameday_operator.report.extras import Cost, RouteFigures

    raw = load_scenario_file(DATA / "scenario-monolith.yaml")
    run = summarize(
        raw,
        routes=[RouteFigures("monolith", "/products", 0.01, 0.95, 0.31)],
        cost=Cost(400, 0, 2, ("shop-monolith",)),
    )
    markdown = render_markdown(run, run, WHEN)
    html = render_html(run, run, {"monolith": b"png", "msa": b"png"}, WHEN)
    for text in ("/products", "950 ms", "95.0x", "31.0%", "+400m CPU, +0 pods", "shop-monolith"):
        assert text in markdown, text
        assert text in html, text
    rows = {row.label: row.monolith for row in comparison_rows(run, run)}
    assert rows["Pods restarted by it"] == "2"


def test_audit_categories_are_shown_per_shape_and_add_up() -> None:
    raw = load_scenario_file(DATA / "scenario-monolith.yaml")
    audit = {
        "checked": 90,
        "lost": [],
        "duplicates": [],
        "wrong_status": [],
        "attempted": 100,
        "categories": {"ok": 80, "failed_cleanly": 12, "phantom": 5, "lost": 0, "stuck": 3},
        "retries": {"sent": 20, "resolved": 14, "still_ambiguous": 6},
    }
    run = summarize(raw, audit)
    rows = {row.label: row.monolith for row in comparison_rows(run, run)}
    assert rows["Orders attempted by the customers"] == "100"
    assert rows["… told failed or timed out, but placed"] == "5 of 100"
    assert rows["… pending past the saga's deadline"] == "3 of 100"
    assert rows["… placed or charged twice"] == "n/a"
    assert rows["Ambiguous outcomes the retry resolved"] == "14 of 20"
    short = summarize(raw, {**audit, "attempted": 101})
    rows = {row.label: row.monolith for row in comparison_rows(short, short)}
    assert rows["Orders attempted by the customers"] == "101 (categories add up to 100)"


def test_an_older_audit_shows_no_category_rows() -> None:
    raw = load_scenario_file(DATA / "scenario-monolith.yaml")
    run = summarize(raw, {"checked": 5, "lost": [], "duplicates": [], "wrong_status": []})
    labels = [row.label for row in comparison_rows(run, run)]
    assert "… told failed or timed out, but placed" not in labels
    assert "Orders lost" in labels


def _customers_traffic() -> dict[str, Any]:
    """A customer's load summary beside the recorded monolith run: from 09:00:00 10 ms
    answers, then from injection (09:01:00) 3 s answers with two in five failing, until well
    past the start of remediation (09:01:35)."""
    from gameday_chaos.load import OutcomeTimeline

    timeline = OutcomeTimeline()
    for second in range(150):
        for i in range(10):
            incident = second >= 60
            timeline.answered(second + i / 10, 3.0 if incident else 0.01, incident and i < 4)
    return {"sent": 1500, "timeline": timeline.to_dict("2025-05-14T09:00:00Z")}


def test_the_seed_shape_is_judged_as_the_customers_saw_it_when_their_timelines_are_given() -> None:
    raw = load_scenario_file(DATA / "scenario-monolith.yaml")
    run = summarize(raw, traffic=[_customers_traffic()])
    assert run.customer_shape is not None and run.customer_shape.held
    assert run.customer_shape.peak_error_ratio == pytest.approx(0.4)
    assert run.seed_shape is run.customer_shape
    rows = {row.label: row.monolith for row in comparison_rows(run, run)}
    assert rows["Seed incident shape"].startswith("held: p95 ")
    assert rows["Seed incident shape"] == rows["… as the customers saw it"]
    assert rows["… as the services measured it"] != rows["… as the customers saw it"]
    without = summarize(raw)
    assert without.customer_shape is None and without.seed_shape is without.shape
    assert {row.label: row.monolith for row in comparison_rows(without, without)}[
        "… as the customers saw it"
    ] == "n/a"


def test_cli_reads_the_customers_traffic_as_the_demo_writes_it(tmp_path: Path) -> None:
    traffic = tmp_path / "traffic-monolith.json"
    out = tmp_path / "report"

    def report() -> Any:
        return CliRunner().invoke(
            main,
            [
                "report",
                "--monolith", str(DATA / "scenario-monolith.yaml"),
                "--msa", str(DATA / "scenario-msa.json"),
                "--traffic-monolith", str(traffic),
                "--out", str(out),
            ],
        )  # fmt: skip

    traffic.write_text(json.dumps({"orders": _customers_traffic(), "catalog": {"sent": 0}}))
    result = report()
    assert result.exit_code == 0, result.output
    [row] = [
        line for line in (out / "report.md").read_text().splitlines() if "customers saw" in line
    ]
    assert "| held: p95" in row and "errors up to 40.0%" in row, row
    traffic.write_text(json.dumps({"orders": [1, 2]}))
    bad = report()
    assert bad.exit_code == 2
    assert "not the output of `gameday-chaos load --summary`" in bad.output


def test_each_playbook_step_is_in_the_report_and_marked_on_the_plots(tmp_path: Path) -> None:
    raw = load_scenario_file(DATA / "scenario-monolith.yaml")
    timeline = raw["status"]["timeline"]
    started = parse_time(timeline["remediationStartedAt"])
    done = parse_time(timeline["remediatedAt"])
    assert started is not None and done is not None
    middle = started + (done - started) / 2
    raw["status"]["steps"] = [
        StepRecord(
            0,
            "Scale",
            started,
            middle,
            before=Figures(p95_seconds=4.2, error_ratio=0.25),
            after=Figures(p95_seconds=1.5, error_ratio=0.05),
            footprint_before=Footprint(2, 0.5, 512),
            footprint_after=Footprint(3, 0.75, 768),
        ).to_dict(),
        StepRecord(1, "SetConfig", middle).to_dict(),
        StepRecord(
            2, "Resize", middle, failed_at=done, failure="the rollout was blocked for 60s: cpu"
        ).to_dict(),
    ]
    monolith, msa = summarize(raw), _runs()[1]
    assert [(s.index, s.kind) for s in monolith.steps] == [
        (0, "Scale"),
        (1, "SetConfig"),
        (2, "Resize"),
    ]
    md = render_markdown(monolith, msa, WHEN)
    row = next(line for line in md.splitlines() if line.startswith("| step 1: Scale |"))
    assert "4.20 s" in row and "1.50 s" in row, row
    assert "+1 pods, +0.25 CPU, +256 MiB" in row
    unfinished = next(line for line in md.splitlines() if line.startswith("| step 2: SetConfig"))
    assert unfinished.endswith("| n/a |"), unfinished
    failed = next(line for line in md.splitlines() if line.startswith("| step 3: Resize"))
    assert failed.startswith("| step 3: Resize (failed, undone) |"), failed
    assert failed.endswith("| nothing kept: the rollout was blocked for 60s: cpu |"), failed
    assert "step 2: SetConfig" in render_html(monolith, msa, {"monolith": b"", "msa": b""}, WHEN)
    # The plot with the steps marked differs from the one without.
    marked = write_report(monolith, msa, tmp_path / "marked", WHEN).plots[0].read_bytes()
    plain = write_report(_runs()[0], msa, tmp_path / "plain", WHEN).plots[0].read_bytes()
    assert marked != plain
