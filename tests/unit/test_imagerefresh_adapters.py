"""Pure parts of the ContainerImageRefresh adapters: references, credentials, reports,
ref advertisements, the build Job's shape, and the status merge patch."""

from __future__ import annotations

import base64
import json

import pytest

from shakedown.adapters.builder import BUILD_CAPABILITIES, build_job
from shakedown.adapters.buildreport import base_images, parse_report
from shakedown.adapters.gitsource import configmap_revision, parse_advertisement
from shakedown.adapters.jobs import test_job as scenario_job
from shakedown.adapters.registry import ImageRef, RegistryError, credentials_from_dockerconfig
from shakedown.adapters.statuswriting import merge_patch
from tests.unit.imagerefresh_helpers import DIGEST_A, make_spec

OWNER = {
    "apiVersion": "shakedown.dev/v1alpha1",
    "kind": "ContainerImageRefresh",
    "name": "app",
    "uid": "u-1",
    "controller": True,
}


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("reg.test:5000/ci/app:v1", "reg.test:5000", "ci/app", "v1", None),
        ("reg.test:5000/ci/app", "reg.test:5000", "ci/app", "latest", None),
        (f"reg.test/ci/app@{DIGEST_A}", "reg.test", "ci/app", None, DIGEST_A),
        ("localhost/app:dev", "localhost", "app", "dev", None),
        ("busybox", "docker.io", "library/busybox", "latest", None),
    ],
)
def test_image_references_are_split(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


def test_credentials_come_from_the_matching_dockerconfig_entry() -> None:
    doc = json.dumps(
        {
            "auths": {
                "https://other.test": {"username": "x", "password": "y"},
                "reg.test:5000": {"auth": base64.b64encode(b"robot:s3cr:et").decode()},
            }
        }
    )
    assert credentials_from_dockerconfig(doc, "reg.test:5000") == ("robot", "s3cr:et")
    assert credentials_from_dockerconfig(doc, "other.test") == ("x", "y")
    assert credentials_from_dockerconfig(doc, "third.test") is None
    with pytest.raises(RegistryError, match="pushSecretRef"):
        credentials_from_dockerconfig("{not json", "reg.test")


def test_build_report_and_base_images() -> None:
    report = parse_report(
        json.dumps(
            {
                "digest": DIGEST_A,
                "revision": "abc",
                "from": "FROM --platform=linux/amd64 reg/base:1 AS build|"
                "FROM build AS test|FROM scratch|FROM ${BASE}|from reg/run:2|",
            }
        )
    )
    assert report is not None
    assert report.digest == DIGEST_A and report.revision == "abc"
    assert list(report.base_images) == ["reg/base:1", "reg/run:2"]
    assert parse_report("exit status 1") is None
    assert base_images("") == []


def test_build_job_runs_buildah_without_privileges_and_mounts_the_context() -> None:
    spec = make_spec(
        source={"configMap": {"name": "ctx"}, "buildArgs": {"CC": "clang"}},
        pushSecretRef={"name": "creds"},
        buildTimeout="10m",
    )
    job = build_job(
        spec=spec,
        name="app-3-build",
        namespace="ci",
        owner=OWNER,
        resource="app",
        run_id="3",
        source_revision=None,
        candidate_tag="cand",
        image="reg/builder@" + DIGEST_A,
    )
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = container["securityContext"]
    assert security["privileged"] is False and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"], "add": list(BUILD_CAPABILITIES)}
    assert "SYS_ADMIN" not in BUILD_CAPABILITIES
    assert container["command"][-2:] == ["--build-arg", "CC=clang"]
    assert container["imagePullPolicy"] == "IfNotPresent"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SD_CANDIDATE_TAG"] == "cand" and env["SD_TLS_VERIFY"] == "true"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["context"]["configMap"] == {"name": "ctx"}
    assert volumes["auth"]["secret"]["secretName"] == "creds"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 600 + 60
    assert job["metadata"]["labels"]["shakedown.dev/run"] == "3"
    assert job["metadata"]["ownerReferences"] == [OWNER]


def test_git_build_checks_out_the_resolved_revision() -> None:
    spec = make_spec(source={"git": {"url": "http://git.test/r.git", "contextDir": "img"}})
    job = build_job(
        spec=spec,
        name="b",
        namespace="ci",
        owner=OWNER,
        resource="app",
        run_id="1",
        source_revision="f" * 40,
        candidate_tag="c",
        image="reg/builder:latest",
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SD_GIT_REVISION"] == "f" * 40 and env["SD_CONTEXT_DIR"] == "img"
    assert container["imagePullPolicy"] == "Always"


def test_scenario_job_uses_the_candidate_by_digest() -> None:
    spec = make_spec(
        tests=[
            {
                "name": "smoke",
                "command": ["/bin/run"],
                "args": ["-v"],
                "timeout": "90s",
                "env": [{"name": "CC", "value": "clang"}],
            }
        ],
        pushSecretRef={"name": "creds"},
    )
    job = scenario_job(
        spec=spec,
        scenario="smoke",
        name="app-1-test-smoke",
        namespace="ci",
        image=f"reg/app@{DIGEST_A}",
        owner=OWNER,
        resource="app",
        run_id="1",
    )
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == f"reg/app@{DIGEST_A}"
    assert (container["command"], container["args"]) == (["/bin/run"], ["-v"])
    assert container["env"] == [{"name": "CC", "value": "clang"}]
    assert pod["imagePullSecrets"] == [{"name": "creds"}]
    assert pod["automountServiceAccountToken"] is False
    assert job["spec"]["activeDeadlineSeconds"] == 90 + 60


def test_ref_advertisement_is_parsed() -> None:
    def pkt(text: str) -> bytes:
        return f"{len(text) + 4:04x}{text}".encode()

    sha1, sha2 = "1" * 40, "2" * 40
    data = (
        pkt("# service=git-upload-pack\n")
        + b"0000"
        + pkt(f"{sha1} HEAD\0multi_ack symref=HEAD:refs/heads/main\n")
        + pkt(f"{sha1} refs/heads/main\n")
        + pkt(f"{sha2} refs/tags/v1^{{}}\n")
        + b"0000"
    )
    assert parse_advertisement(data) == {
        "HEAD": sha1,
        "refs/heads/main": sha1,
        "refs/tags/v1^{}": sha2,
    }


def test_configmap_revision_follows_content_only() -> None:
    one = configmap_revision({"a": "1", "b": "2"}, None)
    assert one == configmap_revision({"b": "2", "a": "1"}, {})
    assert one != configmap_revision({"a": "1", "b": "3"}, None)


def test_merge_patch_removes_what_disappeared() -> None:
    before = {"lastRun": {"id": "1", "finishedAt": "t", "phases": [1]}, "currentRun": {"id": "1"}}
    after = {"lastRun": {"id": "2", "phases": []}}
    assert merge_patch(before, after) == {
        "currentRun": None,
        "lastRun": {"id": "2", "finishedAt": None, "phases": []},
    }
    assert merge_patch(after, after) == {}


def test_git_credentials_reach_the_build_pod_from_the_secret() -> None:
    spec = make_spec(source={"git": {"url": "http://git.test/r.git", "secretRef": {"name": "g"}}})
    job = build_job(
        spec=spec,
        name="b",
        namespace="ci",
        owner=OWNER,
        resource="app",
        run_id="1",
        source_revision=None,
        candidate_tag="c",
        image="reg/builder:latest",
    )
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in env}
    assert refs["GIT_USERNAME"] == {"name": "g", "key": "username"}
    assert refs["GIT_PASSWORD"] == {"name": "g", "key": "password"}
