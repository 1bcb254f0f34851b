"""``shakedown prove`` before it talks to a cluster: bad input is one line and exit 2.

Also checks the shipped GitHub Actions workflow: plain YAML, triggered by pull
requests touching image definitions or manifests, and running a ``shakedown
prove`` command line the real parser accepts.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from shakedown.cli.main import build_parser
from shakedown.cli.prove_cluster import refusal
from shakedown.presentation.prove_plan import MAX_CONTEXT_BYTES

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "examples" / "ci" / "github-actions-prove.yaml"
SHAKEDOWN = Path(sys.executable).with_name("shakedown")
DEAD = """apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
  name: dead
contexts:
- context: {cluster: dead, user: u, namespace: prod}
  name: dead
current-context: dead
users:
- name: u
  user: {token: x}
"""
CIR = """apiVersion: shakedown.dev/v1alpha1
kind: ContainerImageRefresh
metadata: {name: tool}
spec:
  image: registry.example/ci/tool
  source: {git: {url: "https://git.example/x.git"}}
  tests: [{name: smoke}]
"""
IRO = """apiVersion: shakedown.dev/v1alpha1
kind: InfraRollout
metadata: {name: web}
spec:
  targets: [{kind: Deployment, name: web}]
"""


def prove(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DEAD)
    return subprocess.run(
        [str(SHAKEDOWN), "prove", *args],
        env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_an_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pr.yaml").write_text(IRO)
    line = one_line(prove(tmp_path, "-f", "pr.yaml", "--id", "1"))
    assert line.startswith("shakedown: cannot reach the cluster at https://127.0.0.1:1"), line


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    line = one_line(prove(tmp_path, "-f", "nope.yaml", "--id", "1"))
    assert line == "shakedown: -f nope.yaml: no such file or directory"


def test_files_without_shakedown_objects_are_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "deploy.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    line = one_line(prove(tmp_path, "-f", "d", "--id", "1"))
    assert "no ContainerImageRefresh or InfraRollout in d" in line


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "pr.yaml").write_text(IRO + "---\nspec: [1,\n")
    line = one_line(prove(tmp_path, "-f", "pr.yaml", "--id", "1"))
    assert re.match(r"shakedown: pr.yaml:\d+: not valid YAML", line), line


def test_a_context_over_the_limit_is_refused_before_anything_else(tmp_path: Path) -> None:
    (tmp_path / "pr.yaml").write_text(CIR)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM scratch\n")
    (ctx / "big").write_bytes(b"x" * (MAX_CONTEXT_BYTES + 1))
    line = one_line(prove(tmp_path, "-f", "pr.yaml", "--id", "1", "--context", "ctx"))
    assert f"more than {MAX_CONTEXT_BYTES} bytes, the limit" in line, line


def test_a_nested_context_and_a_missing_containerfile_are_refused(tmp_path: Path) -> None:
    (tmp_path / "pr.yaml").write_text(CIR)
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    line = one_line(prove(tmp_path, "-f", "pr.yaml", "--id", "1", "--context", "ctx"))
    assert "sub/ is a directory" in line, line
    (ctx / "sub").rmdir()
    (ctx / "run.sh").write_text("echo\n")
    line = one_line(prove(tmp_path, "-f", "pr.yaml", "--id", "1", "--context", "ctx"))
    assert "no Containerfile in it (spec.source.containerfile of cir/tool)" in line, line


def test_context_and_revision_must_match_a_refresh(tmp_path: Path) -> None:
    (tmp_path / "pr.yaml").write_text(IRO)
    line = one_line(prove(tmp_path, "-f", "pr.yaml", "--id", "1", "--context", "x=ctx"))
    assert "no ContainerImageRefresh 'x' in the input" in line
    line = one_line(prove(tmp_path, "-f", "pr.yaml", "--id", "1", "--revision", "abc"))
    assert "--revision: no ContainerImageRefresh with source.git" in line


# --------------------------------------------------------------------------- the workflow
def workflow() -> dict[object, object]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(doc, dict)
    return doc


def test_the_workflow_runs_on_pull_requests_touching_images_or_manifests() -> None:
    doc = workflow()
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert isinstance(on, dict)
    paths = on["pull_request"]["paths"]
    assert any("images" in p for p in paths) and any("deploy" in p for p in paths), paths


def test_the_workflow_command_is_accepted_by_the_parser() -> None:
    jobs = workflow()["jobs"]
    assert isinstance(jobs, dict)
    steps = jobs["prove"]["steps"]
    (script,) = [s["run"] for s in steps if "shakedown prove" in s.get("run", "")]
    # GitHub substitutes ${{ ... }} before the shell runs; stand in a value.
    argv = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "X", script))
    assert argv[:2] == ["shakedown", "prove"]
    args = build_parser().parse_args(argv[1:])
    assert args.summary == "$GITHUB_STEP_SUMMARY" and args.junit and args.id == "pr-X"
    assert args.revision == "X"
    upload = [s for s in steps if "upload-artifact" in str(s.get("uses", ""))]
    assert upload and upload[0]["if"] == "always()"


def test_the_api_servers_refusal_keeps_the_field_and_drops_the_note_naming_none() -> None:
    message = (
        'InfraRollout.shakedown.dev "bad-19" is invalid: [spec.strategy.type: Unsupported '
        'value: "Sideways": supported values: "Replace", "Canary", "BlueGreen", <nil>: Invalid '
        "value: null: some validation rules were not checked because the object was invalid; "
        "correct the existing errors to complete validation]"
    )
    assert refusal(message) == (
        'InfraRollout.shakedown.dev "bad-19" is invalid: [spec.strategy.type: Unsupported '
        'value: "Sideways": supported values: "Replace", "Canary", "BlueGreen"]'
    )
