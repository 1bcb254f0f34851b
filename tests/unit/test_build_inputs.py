"""Build inputs stay inside the source, durations stay bounded, build pods get limits.

Issue 10: ``contextDir: ../../..`` or a containerfile outside the checkout let
a build copy the build pod's own files (push credentials included) into the
pushed image; a revision starting with ``-`` reads as an option to git; a
duration of a billion hours passed the schema and crashed the planner.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shakedown.adapters.builder import build_job
from shakedown.api.imagerefresh import ContainerImageRefreshSpec
from shakedown.api.infrarollout import InfraRolloutSpec
from tests.unit.test_models import cir_spec, iro_spec


def git(**fields: Any) -> dict[str, Any]:
    return {"git": {"url": "https://example/repo.git", **fields}}


@pytest.mark.parametrize("context_dir", ["..", "../..", "a/../../b", "a/..", "/etc", "a//b"])
def test_a_context_dir_outside_the_checkout_is_refused(context_dir: str) -> None:
    with pytest.raises(ValidationError, match=r"context_dir|contextDir"):
        ContainerImageRefreshSpec.model_validate(cir_spec(source=git(contextDir=context_dir)))


@pytest.mark.parametrize("context_dir", ["", ".", "images/app", "images/app/", ".hidden", "a..b"])
def test_a_context_dir_inside_the_checkout_is_accepted(context_dir: str) -> None:
    ContainerImageRefreshSpec.model_validate(cir_spec(source=git(contextDir=context_dir)))


@pytest.mark.parametrize("containerfile", ["../Containerfile", "/auth/config.json", "a/../../b"])
def test_a_containerfile_outside_the_context_is_refused(containerfile: str) -> None:
    with pytest.raises(ValidationError, match="containerfile"):
        ContainerImageRefreshSpec.model_validate(
            cir_spec(source={**git(), "containerfile": containerfile})
        )


@pytest.mark.parametrize(
    ("revision", "needle"),
    [
        ("-c core.sshCommand=x", "revision"),
        ("--upload-pack=touch", "revision"),
        ("main..evil", "'..' is not allowed"),
        ("main evil", "revision"),
        ("$(id)", "revision"),
    ],
)
def test_a_revision_git_could_misread_is_refused(revision: str, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        ContainerImageRefreshSpec.model_validate(cir_spec(source=git(revision=revision)))


@pytest.mark.parametrize("revision", ["main", "v1.2.3", "refs/pull/12/head", "0" * 40, "a_b-c"])
def test_ordinary_revisions_are_accepted(revision: str) -> None:
    ContainerImageRefreshSpec.model_validate(cir_spec(source=git(revision=revision)))


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("https://robot:s3cret@example/repo.git", "credentials in the URL"),
        ("https://token@example/repo.git", "credentials in the URL"),
        ("file:///auth/repo", "file://"),
    ],
)
def test_urls_that_leak_or_read_the_pod_are_refused(url: str, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        ContainerImageRefreshSpec.model_validate(cir_spec(source={"git": {"url": url}}))


@pytest.mark.parametrize("bake", ["1000000000h", "721h", "43201m", "2592001s"])
def test_durations_beyond_thirty_days_are_refused(bake: str) -> None:
    with pytest.raises(ValidationError, match=r"bake"):
        InfraRolloutSpec.model_validate(iro_spec(bake=bake))


def test_thirty_days_is_accepted() -> None:
    assert InfraRolloutSpec.model_validate(iro_spec(bake="720h")).bake == "720h"


def _build_resources(**resources: Any) -> dict[str, Any]:
    spec = ContainerImageRefreshSpec.model_validate(cir_spec(buildResources=resources))
    job = build_job(
        spec=spec,
        name="b",
        namespace="ns",
        owner={"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "uid": "u"}},
        resource="x",
        run_id="1",
        source_revision="0" * 40,
        candidate_tag="c",
        image="builder:1",
    )
    resources_: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]["resources"]
    return resources_


def test_build_pods_get_limits_by_default() -> None:
    got = _build_resources()
    assert got["limits"] == {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "20Gi"}
    assert got["requests"] == {"cpu": "250m", "memory": "512Mi"}


def test_the_spec_overrides_limits_key_by_key_and_requests_follow_a_lower_limit() -> None:
    got = _build_resources(limits={"memory": "256Mi"}, requests={"cpu": "1"})
    assert got["limits"] == {"cpu": "2", "memory": "256Mi", "ephemeral-storage": "20Gi"}
    assert got["requests"] == {"cpu": "1", "memory": "256Mi"}


@pytest.mark.parametrize(
    "resources",
    [{"limits": {"gpu": "1"}}, {"limits": {"memory": "lots"}}, {"requests": {"cpu": "-1"}}],
)
def test_bad_build_resources_are_refused(resources: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"build_resources|buildResources"):
        ContainerImageRefreshSpec.model_validate(cir_spec(buildResources=resources))
