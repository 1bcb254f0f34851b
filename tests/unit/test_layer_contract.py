"""The layer contract in ``.importlinter`` fails when someone imports against it.

``make lint`` runs ``lint-imports`` on the real tree; a contract that is kept
there proves nothing unless it would also break. Each case copies the package
to a temporary directory, adds one import that goes the wrong way, and runs
``lint-imports`` on the copy: it must exit non-zero and name the contract.
The unchanged copy must pass, so the failure comes from the added line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "operator" / "shakedown"
CONFIG = REPO / ".importlinter"


def lint_copy(tmp_path: Path, module: str | None = None, line: str = "") -> tuple[int, str]:
    """Run lint-imports on a copy of the package, with ``line`` appended to ``module``."""
    root = tmp_path / "src"
    shutil.copytree(PACKAGE, root / "shakedown", ignore=shutil.ignore_patterns("__pycache__"))
    if module is not None:
        path = root / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = root / module.replace(".", "/") / "__init__.py"
        path.write_text(path.read_text() + f"\n{line}\n")
    shutil.copy(CONFIG, tmp_path / ".importlinter")
    # The copy comes first on the path, ahead of the editable install of the real tree.
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command;"
            " sys.exit(lint_imports_command())",
            "--no-cache",
            "--no-logo",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_the_unchanged_package_keeps_every_contract(tmp_path: Path) -> None:
    code, output = lint_copy(tmp_path)
    assert code == 0, output
    assert "0 broken" in output


@pytest.mark.parametrize(
    ("module", "line", "contract", "detail"),
    [
        (
            "shakedown.api.common",
            "import shakedown.planning.validation",
            "Layers:",
            "shakedown.api is not allowed to import shakedown.planning",
        ),
        (
            "shakedown.checks.base",
            "from shakedown.adapters.workloads import Kube as _Kube",
            "Layers:",
            "shakedown.checks is not allowed to import shakedown.adapters",
        ),
        (
            "shakedown.demo.infrarollout",
            "from shakedown.cli.get import render",
            "Layers:",
            "shakedown.demo is not allowed to import shakedown.cli",
        ),
        (
            "shakedown.adapters.builder",
            "from shakedown.localcluster.layout import Layout",
            "Production code never depends on localcluster",
            "shakedown.adapters is not allowed to import shakedown.localcluster",
        ),
        (
            "shakedown.adapters.jobs",
            "from shakedown.adapters.builder import build_job",
            "No import cycles between sibling modules",
            ".jobs -> .builder",
        ),
        (
            "shakedown.cli.get",
            "from kubernetes import client as _client",
            "Only adapters.kubeclient imports the kubernetes client library",
            "shakedown.cli.get -> kubernetes",
        ),
    ],
    ids=[
        "api-imports-planning",
        "checks-import-adapters",
        "demo-imports-cli",
        "prod-imports-localcluster",
        "adapter-cycle",
        "kubernetes-outside-kubeclient",
    ],
)
def test_a_back_import_breaks_the_contract(
    tmp_path: Path, module: str, line: str, contract: str, detail: str
) -> None:
    code, output = lint_copy(tmp_path, module, line)
    assert code != 0, output
    broken = output.split("Broken contracts", 1)[-1]
    assert contract in broken, output
    assert detail in broken, output
