"""The HTML report renders in headless Chromium with its table and every image."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from advqa.bench.config import experiment_from_dict
from advqa.bench.report import build_report
from advqa.bench.runner import run_experiment

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(tmp_path, folder_dataset, tiny_registered):
    exp = experiment_from_dict({"models": [tiny_registered], "datasets": [{"name": "folder", "root": str(folder_dataset)}],
                                "attacks": [{"name": "fgsm", "eps": "4/255", "label": "fgsm"}]})
    rep = run_experiment(exp, tmp_path / "out")
    report = build_report(rep.database)
    profile = tmp_path / "profile"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
           report.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'id="summary"' in dom
    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert m, "the page's load script did not run"
    loaded, total = int(m.group(1)), int(m.group(2))
    assert total >= 5 and loaded == total  # scatter + histogram + 3 example frames, all decoded
    rows = re.findall(r"<tr><td class=\"l\">tiny-bench-model</td>", dom)
    assert len(rows) >= 1
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}2", f"--screenshot={shot}",
                    "--window-size=1200,1600", report.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000
