"""What starts a ContainerImageRefresh run, end to end: Git source changes, base image
changes, the schedule, manual requests, suspend; and rollback to a promoted digest.

The Git repository is served by the test (``git http-backend``) on the cluster's
host address, so the build pods really clone it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from shakedown.adapters import kubeclient
from tests.fixtures.gitserver import GitServer
from tests.fixtures.imagerefresh import Refreshes

pytestmark = pytest.mark.cluster


def _message_image(base: str) -> str:
    return f"FROM {base}\nCOPY message /message\n"


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    found: dict[str, Any] = {c["type"]: c for c in status.get("conditions", [])}[type_]
    return found


def test_git_source_change_builds_the_new_commit_and_rollback_returns(
    refreshes: Refreshes, registry: str, git_server: GitServer
) -> None:
    r = refreshes
    repo = git_server.create_repo(
        f"{r.namespace}-app",
        {
            "images/app/Containerfile": _message_image(f"{registry}/shakedown/busybox:latest"),
            "images/app/message": "from commit A\n",
            "README": "not in the context\n",
        },
    )
    first = repo.head()
    r.create(
        "app",
        {
            "image": r.image("app"),
            "source": {
                "git": {"url": repo.url, "revision": "main", "contextDir": "images/app"},
            },
            "triggers": {"source": True, "baseImage": False, "pollInterval": "10s"},
            "tests": [{"name": "reads", "command": ["cat", "/message"], "timeout": "1m"}],
        },
    )
    status = r.wait_run("app", "1")
    run1 = status["lastRun"]
    assert run1["phase"] == "Succeeded", run1
    assert run1["sourceRevision"] == first
    digest1 = run1["candidateDigest"]

    second = repo.commit({"images/app/message": "from commit B\n"}, "B")
    status = r.wait_run("app", "2", timeout=120)
    run2 = status["lastRun"]
    assert (run2["phase"], run2["trigger"], run2["sourceRevision"]) == (
        "Succeeded",
        "Source",
        second,
    )
    digest2 = run2["candidateDigest"]
    assert r.tag_digest("app", "latest") == digest2
    log, _ = r.run_pod("consumer-b", f"{r.image('app')}:latest", ["cat", "/message"])
    assert log.strip() == "from commit B"
    assert [h["digest"] for h in status["history"]] == [digest2, digest1]

    shown = r.cli("get", "cir", "app", "-n", r.namespace)
    assert shown.returncode == 0, shown.stderr
    assert f"  {digest2}  promoted" in shown.stdout and f"  {digest1}  promoted" in shown.stdout

    # Rollback (to the previous digest in history): the tag moves back without a build.
    jobs_before = len(r.jobs("app"))
    done = r.cli("rollback", "cir", "app", "-n", r.namespace)
    assert done.returncode == 0, done.stderr
    assert digest1 in done.stdout
    r.wait_for("tag back at run 1", lambda: r.tag_digest("app", "latest") == digest1, 30)
    status = r.wait_for(
        "Rollback condition",
        lambda: (s := r.status("app")).get("promotedDigest") == digest1 and s,
        30,
    )
    rollback = _condition(status, "Rollback")
    assert (rollback["status"], rollback["reason"]) == ("True", "RolledBack")
    assert len(r.jobs("app")) == jobs_before == 0
    assert status["lastRun"]["id"] == "2"  # no run was started for it
    log, _ = r.run_pod("consumer-a", f"{r.image('app')}:latest", ["cat", "/message"])
    assert log.strip() == "from commit A"

    # A digest that was never promoted here is refused: by the CLI, and by the
    # operator when the annotation is set directly (e.g. from Git).
    unknown = "sha256:" + "0" * 64
    refused = r.cli("rollback", "cir", "app", "-n", r.namespace, "--to", unknown)
    assert refused.returncode == 2 and "not in status.history" in refused.stderr
    r.annotate("app", "shakedown.dev/rollback-to", unknown)
    status = r.wait_for(
        "refusal",
        lambda: (s := r.status("app")).get("handledRollbackTo") == unknown and s,
        30,
    )
    rollback = _condition(status, "Rollback")
    assert (rollback["status"], rollback["reason"]) == ("False", "DigestNotInHistory")
    assert unknown in rollback["message"] and digest1[:19] in rollback["message"]
    assert r.tag_digest("app", "latest") == digest1
    # Events are posted just after the status is stored.
    r.wait_for("RollbackRefused event", lambda: "RollbackRefused" in r.event_reasons("app"), 30)


def test_base_image_change_schedule_manual_and_suspend(refreshes: Refreshes, registry: str) -> None:
    r = refreshes
    # "base" is itself refreshed by shakedown; "app" builds FROM base's tag.
    r.config_map(
        "base",
        {
            "Containerfile": _message_image(f"{registry}/shakedown/busybox:latest"),
            "message": "base\n",
        },
    )
    r.config_map(
        "app", {"Containerfile": _message_image(f"{r.image('base')}:latest"), "message": "app\n"}
    )
    tests = [{"name": "reads", "command": ["cat", "/message"], "timeout": "1m"}]
    r.create(
        "sched",
        {
            "image": r.image("sched"),
            "source": {"configMap": {"name": "base"}},  # FROM busybox: buildable at any time
            "schedule": "* * * * *",
            "timeZone": "Europe/Berlin",
            "triggers": {"source": False, "baseImage": False},
            "tests": tests,
            "promote": False,
        },
    )
    r.create(
        "idle",
        {
            "image": r.image("idle"),
            "source": {"configMap": {"name": "app"}},
            "tests": tests,
            "suspend": True,
        },
    )
    r.create(
        "base",
        {"image": r.image("base"), "source": {"configMap": {"name": "base"}}, "tests": tests},
    )
    base1 = r.wait_run("base", "1")["lastRun"]["candidateDigest"]
    r.create(
        "app",
        {
            "image": r.image("app"),
            "source": {"configMap": {"name": "app"}},
            "triggers": {"baseImage": True, "source": False, "pollInterval": "10s"},
            "tests": tests,
        },
    )
    status = r.wait_run("app", "1")
    assert status["lastRun"]["phase"] == "Succeeded"
    assert status["observed"]["baseImageDigests"] == {f"{r.image('base')}:latest": base1}

    # A new base digest (a manual run of "base") starts exactly one run of "app".
    triggered = r.cli("trigger", "cir", "base", "-n", r.namespace)
    assert triggered.returncode == 0, triggered.stderr
    run = r.wait_run("base", "2")["lastRun"]
    assert (run["phase"], run["trigger"]) == ("Succeeded", "Manual")
    base2 = run["candidateDigest"]
    status = r.wait_run("app", "2", timeout=90)
    assert status["lastRun"]["trigger"] == "BaseImage"
    assert status["observed"]["baseImageDigests"] == {f"{r.image('base')}:latest": base2}
    # Another poll of the base image (every 10s) finds nothing new: no run 3.
    polled = status["observed"]["polledAt"]
    after = r.wait_for(
        "another poll", lambda: (s := r.status("app"))["observed"]["polledAt"] != polled and s, 60
    )
    # A change found by that poll would be queued or running in this same status.
    assert after["lastRun"]["id"] == "2"
    assert not after.get("currentRun") and not after.get("pendingTriggers")

    # The schedule fires (every minute, read in Europe/Berlin).
    status = r.status("sched")
    assert status.get("nextRunAt")
    run_ids = {run["id"]: run for run in [status.get("lastRun") or {}]}
    deadline = time.monotonic() + 100
    while time.monotonic() < deadline:
        status = r.status("sched")
        runs = [status.get("lastRun") or {}, *(status.get("recentRuns") or [])]
        scheduled = [x for x in runs if x.get("trigger") == "Schedule" and x.get("finishedAt")]
        if scheduled:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"no scheduled run: {run_ids} {status}")
    assert scheduled[0]["phase"] == "Validated"

    # Suspended: nothing ran, and a manual request is not acted on.
    r.annotate("idle", "shakedown.dev/run-requested", "now")
    status = r.wait_for(
        "request seen", lambda: (s := r.status("idle")).get("handledRunRequest") == "now" and s, 30
    )
    r.wait_for("Suspended event", lambda: "Suspended" in r.event_reasons("idle"), 30)
    assert not status.get("lastRun") and not r.jobs("idle")
    assert _condition(status, "Suspended")["status"] == "True"


def test_private_git_repository_with_a_secret(
    refreshes: Refreshes, registry: str, tmp_path: Path
) -> None:
    r = refreshes
    server = GitServer(tmp_path, registry.rsplit(":", 1)[0], auth=("alice", "pa55"))
    try:
        repo = server.create_repo(
            "private",
            {
                "Containerfile": _message_image(f"{registry}/shakedown/busybox:latest"),
                "message": "private source\n",
            },
        )
        kubeclient.core(r.api).create_namespaced_secret(
            r.namespace,
            {"metadata": {"name": "git"}, "stringData": {"username": "alice", "password": "pa55"}},
        )
        spec = {
            "image": r.image("private"),
            "source": {"git": {"url": repo.url, "secretRef": {"name": "git"}}},
            "tests": [{"name": "reads", "command": ["cat", "/message"], "timeout": "1m"}],
        }
        r.create("private", spec)
        r.create(
            "nosecret",
            {**spec, "image": r.image("nosecret"), "source": {"git": {"url": repo.url}}},
        )
        # A URL at the cloud metadata address: the operator never connects there.
        r.create(
            "metadata",
            {
                **spec,
                "image": r.image("metadata"),
                "source": {"git": {"url": "http://169.254.169.254/latest/repo.git"}},
            },
        )
        run = r.wait_run("private", "1")["lastRun"]
        assert (run["phase"], run["sourceRevision"]) == ("Succeeded", repo.head()), run
        refused = r.wait_run("metadata", "1")["lastRun"]
        assert refused["phase"] == "Failed", refused
        assert "169.254.169.254" in refused["message"] and "link-local" in refused["message"]
        assert not r.jobs("metadata")
        failed = r.wait_run("nosecret", "1")["lastRun"]
        assert failed["phase"] == "Failed"
        assert "cannot resolve source revision" in failed["message"]
        assert "HTTP 401" in failed["message"] and "secretRef" in failed["message"]
        assert not r.jobs("nosecret")
    finally:
        server.close()
