"""``shakedown crds --apply`` (the chart's pre-upgrade hook) fails in one line.

A hook Job's log is what a user reads when ``helm upgrade`` stops at the hook:
an unreachable API server or a missing kubeconfig must read as one line with
exit code 2, not a traceback. (tests/cluster/test_chart_upgrade.py runs the
hook for real.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.test_cli_errors import DEAD

SHAKEDOWN = Path(sys.executable).with_name("shakedown")


def apply(kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHAKEDOWN), "crds", "--apply"],
        env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DEAD)
    done = apply(kubeconfig)
    assert done.returncode == 2
    assert done.stderr.startswith("shakedown: cannot reach the cluster at https://127.0.0.1:1 (")
    assert len(done.stderr.splitlines()) == 1


def test_a_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    done = apply(tmp_path / "nowhere")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"shakedown: KUBECONFIG names {tmp_path / 'nowhere'}, which does not exist"
    )


def test_apply_excludes_write_and_check() -> None:
    done = subprocess.run(
        [str(SHAKEDOWN), "crds", "--apply", "--check", "crds/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr
