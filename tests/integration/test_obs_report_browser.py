"""The HTML report opened in a real headless Chromium: it renders, with no errors."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gameday_operator.report.load import load_audit_file, load_scenario_file
from gameday_operator.report.render import write_report
from gameday_operator.report.summary import summarize

DATA = Path(__file__).resolve().parents[1] / "data"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on this machine (apt-get install chromium)")


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    monolith = summarize(
        load_scenario_file(DATA / "scenario-monolith.yaml"),
        load_audit_file(DATA / "audit-monolith.json"),
    )
    msa = summarize(load_scenario_file(DATA / "scenario-msa.json"))
    paths = write_report(monolith, msa, tmp_path / "out", datetime(2025, 5, 14, tzinfo=UTC))
    profile = tmp_path / "profile"
    profile.mkdir()
    screenshot = tmp_path / "report.png"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={screenshot}",
            "--window-size=1400,2000",
            "--enable-logging=stderr",
            "--v=0",
            paths.html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Page errors (a broken data: URI, a script error, a blocked external fetch) show up as
    # console messages or net errors on stderr.
    page_errors = [
        line
        for line in done.stderr.splitlines()
        if "CONSOLE" in line or "ERR_FILE_NOT_FOUND" in line or "Failed to load" in line
    ]
    assert page_errors == []
    assert screenshot.exists()
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG")
    # A blank 1400x2000 page compresses to a few kilobytes; tables and two plots do not.
    assert len(png) > 100_000, f"screenshot suspiciously small: {len(png)} bytes"
    # Keep a copy where a person can look at it after the run.
    shutil.copy(screenshot, tmp_path / "out" / "screenshot.png")
    print(f"screenshot: {tmp_path / 'out' / 'screenshot.png'} ({len(png)} bytes)")
