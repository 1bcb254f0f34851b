"""The chart's version policy: every change under charts/ bumps Chart.yaml's version.

Users upgrade by chart version (`helm upgrade --version`), and a chart that
changed under the same version would be two different things with one name.
PREVIOUS is the last released chart (the one tests/cluster/test_chart_upgrade.py
upgrades from); when charts/ differs from it, the version must be greater.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "shakedown"
PREVIOUS = "ac4fb1a"


def semver(text: str) -> tuple[int, int, int]:
    major, minor, patch = text.split("-", 1)[0].split(".")
    return int(major), int(minor), int(patch)


def test_a_changed_chart_has_a_greater_version() -> None:
    diff = subprocess.run(
        ["git", "diff", "--quiet", PREVIOUS, "--", "charts/"], cwd=REPO, timeout=60, check=False
    )
    assert diff.returncode in (0, 1), f"git diff against {PREVIOUS} failed"
    previous = yaml.safe_load(
        subprocess.run(
            ["git", "show", f"{PREVIOUS}:charts/shakedown/Chart.yaml"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    current = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    if diff.returncode == 1:
        assert semver(current["version"]) > semver(previous["version"]), (
            f"charts/ changed since {PREVIOUS}: bump Chart.yaml's version "
            f"(now {current['version']}, was {previous['version']})"
        )
    else:
        assert current["version"] == previous["version"]
