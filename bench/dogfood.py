"""From a new commit to the operator running it: shakedown's own path beside doing it by hand.

The operator is installed self-hosted (tests/fixtures/dogfood.py: manifests/,
the image from images/operator/Containerfile) with the dogfooding refresh and
rollout, and brought to its first in-cluster build (not measured). Then:

- shakedown: a commit is pushed to the Git server; measured until the operator
  Deployment's two replicas are Ready on the promoted digest and one of them
  leads. On the way: the refresh notices the commit (polls every 10 s), builds
  in the cluster, runs the unit subset in the candidate, promotes; the rollout
  shadows, canaries (50 %, a 30 s pause), bakes 30 s.
- by hand: the refresh is suspended, another commit made, and the same image
  built on the host with buildah (same Containerfile, same build arguments,
  same BASE), pushed, ``kubectl set image`` and ``kubectl rollout status``. No
  tests, no shadow, no canary, no bake: the least a person would do.

Both start from a commit and end with the operator running it. Run on the
local cluster (started with ``make cluster``):
``SHAKEDOWN_STATE=... .venv/bin/python bench/dogfood.py [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.fixtures: the scene is shared with the test

from tests.fixtures.dogfood import (  # noqa: E402
    Installed,
    Scene,
    install,
    push_project,
    start_dogfooding,
    uninstall,
    write,
)
from tests.fixtures.gitserver import GitRepo, GitServer  # noqa: E402

from shakedown.adapters import kubeclient  # noqa: E402
from shakedown.localcluster import images  # noqa: E402
from shakedown.localcluster.builder_image import build_builder_image  # noqa: E402
from shakedown.localcluster.dogfood_image import (  # noqa: E402
    build_dependencies_image,
    in_cluster_build_args,
    tracked_files,
)
from shakedown.localcluster.layout import Layout  # noqa: E402
from shakedown.localcluster.operator_image import build_operator_image  # noqa: E402

STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


def touch(repo: GitRepo, note: str) -> str:
    """A commit that changes the package (so the image changes); its id."""
    path = "operator/shakedown/__init__.py"
    source = (repo.work / path).read_text()
    write(repo, {path: f"{source}# bench: {note}\n".encode()})
    return repo.commit({}, f"bench: {note}")


def phase_seconds(run: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for phase in run.get("phases") or []:
        if phase.get("startedAt") and phase.get("finishedAt"):
            start = datetime.fromisoformat(phase["startedAt"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(phase["finishedAt"].replace("Z", "+00:00"))
            out[phase["name"]] = (end - start).total_seconds()
    return out


def by_shakedown(scene: Scene, refreshes: Any, repo: GitRepo, revision: int) -> dict[str, Any]:
    commit = touch(repo, "through shakedown")
    started = time.monotonic()
    say(f"commit {commit[:12]} pushed; waiting for the operator to run it")
    status = refreshes.wait_run("operator", str(revision), timeout=1800)
    run = status["lastRun"]
    if run["phase"] != "Succeeded" or run["sourceRevision"] != commit:
        raise SystemExit(f"run {revision} did not succeed on {commit}: {run}")
    promoted = time.monotonic() - started
    image = f"{refreshes.image('operator')}@{status['promotedDigest']}"
    final = scene.wait_rollout("operator", revision, timeout=1200)
    if final["phase"] != "Succeeded":
        raise SystemExit(f"rollout revision {revision} ended {final['phase']}: {final}")
    scene.settled_on(image)
    scene.leader_pod()
    total = time.monotonic() - started
    return {"promoted": promoted, "running": total, "phases": phase_seconds(run)}


def by_hand(
    layout: Layout, scene: Scene, refreshes: Any, repo: GitRepo, build_args: dict[str, str]
) -> dict[str, Any]:
    refreshes.patch_spec("operator", {"suspend": True})
    commit = touch(repo, "by hand")
    started = time.monotonic()
    say(f"commit {commit[:12]}; buildah bud, push, kubectl set image, rollout status")
    context = Path(tempfile.mkdtemp(prefix="shakedown-dogfood-hand-"))
    try:
        shutil.copytree(repo.work, context / "src", ignore=shutil.ignore_patterns(".git"))
        local = f"localhost/dogfood-hand:{commit[:12]}"
        args = [arg for k, v in build_args.items() for arg in ("--build-arg", f"{k}={v}")]
        images.buildah(
            layout,
            "build",
            "--isolation=chroot",
            "--layers=false",
            "--format=oci",
            "--tls-verify=false",
            "-f",
            "images/operator/Containerfile",
            *args,
            "-t",
            local,
            str(context / "src"),
        )
        built = time.monotonic() - started
        target = f"{refreshes.image('operator')}:hand-{commit[:12]}"
        digest_file = context / "digest"
        images.buildah(
            layout,
            "push",
            "--tls-verify=false",
            "--digestfile",
            str(digest_file),
            local,
            f"docker://{target}",
        )
        pushed = time.monotonic() - started
        image = f"{refreshes.image('operator')}@{digest_file.read_text().strip()}"
        kubectl = ["kubectl", "-n", scene.namespace]
        subprocess.run(
            [*kubectl, "set", "image", "deployment/shakedown", f"operator={image}"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            [*kubectl, "rollout", "status", "deployment/shakedown", "--timeout=10m"],
            check=True,
            capture_output=True,
            timeout=660,
        )
        scene.settled_on(image)
        scene.leader_pod()
        total = time.monotonic() - started
        images.buildah(layout, "rmi", local)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return {"built": built, "promoted": pushed, "running": total}


def table(shakedown: dict[str, Any], hand: dict[str, Any]) -> str:
    phases = shakedown["phases"]
    rows = [
        ("", "shakedown", "by hand"),
        (
            "image built (commit ->)",
            f"{phases.get('Build', 0):.0f} s build",
            f"{hand['built']:.0f} s",
        ),
        ("unit subset in candidate", f"{phases.get('Test', 0):.0f} s", "-"),
        ("commit -> image pushed", f"{shakedown['promoted']:.0f} s", f"{hand['promoted']:.0f} s"),
        ("commit -> operator running", f"{shakedown['running']:.0f} s", f"{hand['running']:.0f} s"),
    ]
    return "\n".join(f"{a:<28}{b:>18}{c:>12}" for a, b, c in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    layout = Layout.default()
    os.environ.setdefault("KUBECONFIG", str(layout.kubeconfig))
    api = kubeclient.api_client()
    registry = layout.network.registry
    say("images: operator (Containerfile), dependencies, builder, busybox")
    images_env = {
        "operator": build_operator_image(layout, say=say).by_digest,
        "SHAKEDOWN_BUILDER_IMAGE": build_builder_image(),
        "SHAKEDOWN_PROBE_IMAGE": images.build_busybox(layout, say=say).ref,
    }
    deps = build_dependencies_image(layout, say=say)
    build_args = in_cluster_build_args(deps)
    suffix = secrets.token_hex(3)
    installed = Installed(f"sdfood-{suffix}-system", f"sdfood-{suffix}")
    git_root = Path(tempfile.mkdtemp(prefix="shakedown-dogfood-git-"))
    server = GitServer(git_root, registry.rsplit(":", 1)[0])
    try:
        install(api, installed, images_env)
        scene = Scene(api, installed.system_ns, say)
        scene.settled_on(images_env["operator"])
        repo = push_project(server, f"{installed.system_ns}-shakedown", tracked_files(REPO))
        refreshes = start_dogfooding(api, registry, installed.system_ns, repo.url, build_args)
        say("warming up: the first in-cluster build and rollout (not measured)")
        refreshes.wait_run("operator", "1", timeout=1800)
        scene.wait_rollout("operator", 1, timeout=1200)
        shakedown = by_shakedown(scene, refreshes, repo, 2)
        hand = by_hand(layout, scene, refreshes, repo, build_args)
    finally:
        uninstall(api, installed)
        server.close()
        shutil.rmtree(git_root, ignore_errors=True)
    print(table(shakedown, hand))
    if args.json:
        args.json.write_text(json.dumps({"shakedown": shakedown, "by_hand": hand}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
