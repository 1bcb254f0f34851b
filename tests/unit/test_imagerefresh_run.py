"""The run state machine: build -> test -> promote, failures, timeouts, resuming."""

from __future__ import annotations

from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    RunPhase,
)
from shakedown.api.imagerefresh import TestPhase as ScenarioPhase
from shakedown.planning.imagerefresh import Plan
from shakedown.planning.imagerefresh.observed import (
    CreateBuildJob,
    CreateTestJob,
    DeleteJob,
    JobState,
    MoveTag,
    RunFinished,
)
from shakedown.planning.imagerefresh.run import (
    build_job_name,
    candidate_tag,
    logs_wanted,
    scenario_job_name,
)
from tests.unit.imagerefresh_helpers import (
    BASE_1,
    DIGEST_A,
    DIGEST_B,
    RES,
    action_types,
    built,
    job,
    make_spec,
    observe,
    step,
)


def _to_testing(spec: ContainerImageRefreshSpec | None = None) -> Plan:
    """Drive a fresh resource to the Testing phase of run 1; returns the status."""
    spec = spec or make_spec()
    status = ContainerImageRefreshStatus()
    p = step(spec, status, observe(0))
    assert p.status.current_run is not None and p.status.current_run.phase == RunPhase.PENDING
    p = step(spec, p.status, observe(1, polled=True, source_revision="cfg-1"))
    assert p.status.current_run is not None and p.status.current_run.phase == RunPhase.BUILDING
    p = step(spec, p.status, observe(30, jobs=(built(base_images={"busybox": BASE_1}),)))
    return p


def test_created_resource_runs_build_then_tests_then_promotes() -> None:
    spec = make_spec()
    p = step(spec, ContainerImageRefreshStatus(), observe(0))
    assert p.status.last_run is not None and p.status.last_run.trigger == "Spec"
    assert action_types(p) == []  # status first: the run is recorded, then announced
    assert [e.reason for e in p.events] == ["RunStarted"]

    # Pending: inputs resolved, then the build Job is asked for (status first).
    p = step(spec, p.status, observe(1, polled=True, source_revision="cfg-1"))
    creates = [a for a in p.actions if isinstance(a, CreateBuildJob)]
    assert creates == [
        CreateBuildJob(
            run_id="1",
            job_name="unit-tests-1-build",
            source_revision="cfg-1",
            candidate_tag="shakedown-ci-unit-tests-run-1",
        )
    ]
    assert p.status.current_run is not None
    assert p.status.current_run.phase == RunPhase.BUILDING

    building = job("unit-tests-1-build", run_id="1", step="build")
    p = step(spec, p.status, observe(5, jobs=(building,)))
    assert p.actions == ()
    assert p.status.current_run is not None
    assert p.status.current_run.build_job == "unit-tests-1-build"

    p = step(spec, p.status, observe(30, jobs=(built(base_images={"busybox": BASE_1}),)))
    assert p.status.current_run is not None
    assert p.status.current_run.phase == RunPhase.TESTING
    assert p.status.candidate_digest == DIGEST_A
    tests = [a for a in p.actions if isinstance(a, CreateTestJob)]
    assert [(t.scenario, t.image) for t in tests] == [
        ("smoke", f"registry.test:5000/ci/unit-tests@{DIGEST_A}"),
        ("full", f"registry.test:5000/ci/unit-tests@{DIGEST_A}"),
    ]
    assert p.status.observed is not None
    assert p.status.observed.base_image_digests == {"busybox": BASE_1}

    done = (
        built(),
        job("unit-tests-1-test-smoke", JobState.SUCCEEDED, scenario="smoke"),
        job("unit-tests-1-test-full", JobState.SUCCEEDED, scenario="full"),
    )
    p = step(spec, p.status, observe(40, jobs=done))
    assert p.status.current_run is not None
    assert p.status.current_run.phase == RunPhase.PROMOTING
    assert [a for a in p.actions if isinstance(a, MoveTag)] == [
        MoveTag(digest=DIGEST_A, why="promote")
    ]
    assert p.status.promoted_digest is None  # not before the tag is seen there

    p = step(spec, p.status, observe(41, jobs=done, tag_resolved=True, tag_digest=DIGEST_A))
    assert p.status.current_run is None
    assert p.status.promoted_digest == DIGEST_A
    assert [h.digest for h in p.status.history] == [DIGEST_A]
    assert p.status.last_run is not None and p.status.last_run.phase == RunPhase.SUCCEEDED
    last = p.status.last_run  # what lastRun shows users: the run's own record, now ended
    assert (last.id, last.trigger, last.candidate_digest, last.source_revision) == (
        "1",
        "Spec",
        DIGEST_A,
        "cfg-1",
    )
    assert [t.name for t in last.phases] == ["Build", "Test", "Promote"]
    assert last.started_at is not None and last.finished_at is not None
    assert {a.job_name for a in p.actions if isinstance(a, DeleteJob)} == {j.name for j in done}
    finished = [a for a in p.actions if isinstance(a, RunFinished)]
    assert len(finished) == 1 and finished[0].notify == "Promoted"
    assert set(finished[0].phase_seconds) == {"Build", "Test", "Promote", "Run"}
    assert finished[0].phase_seconds["Run"] == 41
    ready = next(c for c in p.status.conditions if c.type == "Ready")
    assert ready.status == "True" and ready.reason == "Promoted"


def test_one_failing_scenario_keeps_the_tag_and_names_it_with_its_log() -> None:
    spec = make_spec()
    p = _to_testing(spec)
    jobs = (
        built(),
        job("unit-tests-1-test-smoke", JobState.SUCCEEDED, scenario="smoke"),
        job(
            "unit-tests-1-test-full",
            JobState.FAILED,
            scenario="full",
            reason="exit code 3",
            log_tail="FAIL: test_widget\n",
        ),
    )
    p = step(spec, p.status, observe(60, jobs=jobs))
    assert not [a for a in p.actions if isinstance(a, MoveTag)]
    assert p.status.promoted_digest is None
    last = p.status.last_run
    assert last is not None and last.phase == RunPhase.FAILED
    assert [(f.name, f.reason, f.log_tail) for f in last.failed_tests] == [
        ("full", "exit code 3", "FAIL: test_widget\n")
    ]
    assert "full (exit code 3)" in last.message
    warnings = [e for e in p.events if e.type == "Warning"]
    assert [w.reason for w in warnings] == ["RunFailed"]
    assert p.status.recent_runs[0].failed_tests[0].log_tail == ""  # tails only in lastRun
    ready = next(c for c in p.status.conditions if c.type == "Ready")
    assert ready.status == "False" and ready.reason == "RunFailed"


def test_a_hanging_scenario_is_stopped_at_its_timeout_with_its_log() -> None:
    spec = make_spec()
    p = _to_testing(spec)
    running = (
        built(),
        job("unit-tests-1-test-smoke", JobState.SUCCEEDED, scenario="smoke"),
        job("unit-tests-1-test-full", scenario="full"),
    )
    p = step(spec, p.status, observe(31, jobs=running))
    assert p.status.current_run is not None
    assert logs_wanted(spec, p.status, RES, observe(100).now) == frozenset()
    wanted = logs_wanted(spec, p.status, RES, observe(31 + 120).now)
    assert wanted == {"unit-tests-1-test-full"}
    hung = (
        *running[:2],
        job("unit-tests-1-test-full", scenario="full", log_tail="waiting forever\n"),
    )
    p = step(spec, p.status, observe(31 + 120, jobs=hung))
    assert DeleteJob(job_name="unit-tests-1-test-full") in p.actions
    last = p.status.last_run
    assert last is not None and last.phase == RunPhase.FAILED
    assert last.failed_tests[0].name == "full"
    assert last.failed_tests[0].reason == "timed out after 2m"
    assert last.failed_tests[0].log_tail == "waiting forever\n"


def test_a_failed_build_fails_the_run_with_its_log_tail() -> None:
    spec = make_spec()
    status = step(spec, ContainerImageRefreshStatus(), observe(0)).status
    status = step(spec, status, observe(1, polled=True)).status
    failed = job(
        "unit-tests-1-build",
        JobState.FAILED,
        step="build",
        reason="exit code 125",
        log_tail="error: pushing: connection refused\n",
    )
    p = step(spec, status, observe(20, jobs=(failed,)))
    last = p.status.last_run
    assert last is not None and last.phase == RunPhase.FAILED
    assert "build failed: exit code 125" in last.message
    assert "connection refused" in last.message
    assert DeleteJob(job_name="unit-tests-1-build") in p.actions
    assert not [a for a in p.actions if isinstance(a, CreateTestJob | MoveTag)]


def test_validate_only_never_moves_the_tag() -> None:
    spec = make_spec(promote=False)
    p = _to_testing(spec)
    jobs = (
        built(),
        job("unit-tests-1-test-smoke", JobState.SUCCEEDED, scenario="smoke"),
        job("unit-tests-1-test-full", JobState.SUCCEEDED, scenario="full"),
    )
    p = step(spec, p.status, observe(60, jobs=jobs, tag_resolved=True, tag_digest=DIGEST_B))
    assert not [a for a in p.actions if isinstance(a, MoveTag)]
    assert p.status.last_run is not None and p.status.last_run.phase == RunPhase.VALIDATED
    assert p.status.promoted_digest is None and p.status.history == []
    finished = [a for a in p.actions if isinstance(a, RunFinished)]
    assert finished[0].notify == "Validated"


def test_restart_during_build_finds_the_job_instead_of_creating_another() -> None:
    spec = make_spec()
    status = step(spec, ContainerImageRefreshStatus(), observe(0)).status
    p = step(spec, status, observe(1, polled=True))
    # Stored status says Building; the operator died before or after creating the Job.
    again = step(spec, p.status, observe(2))
    assert [a for a in again.actions if isinstance(a, CreateBuildJob)] == [
        a for a in p.actions if isinstance(a, CreateBuildJob)
    ]  # same deterministic name: creating it again is a no-op
    seen = step(spec, p.status, observe(3, jobs=(job("unit-tests-1-build", step="build"),)))
    assert not [a for a in seen.actions if isinstance(a, CreateBuildJob)]
    # Once seen, a vanished build Job fails the run rather than building twice.
    gone = step(spec, seen.status, observe(4))
    assert not [a for a in gone.actions if isinstance(a, CreateBuildJob)]
    assert gone.status.last_run is not None
    assert "disappeared" in gone.status.last_run.message


def test_restart_during_tests_creates_only_missing_jobs() -> None:
    spec = make_spec()
    p = _to_testing(spec)
    partial = (built(), job("unit-tests-1-test-smoke", scenario="smoke"))
    again = step(spec, p.status, observe(35, jobs=partial))
    creates = [a.scenario for a in again.actions if isinstance(a, CreateTestJob)]
    assert creates == ["full"]


def test_restart_after_the_tag_moved_finishes_without_moving_it_again() -> None:
    spec = make_spec()
    p = _to_testing(spec)
    done = (
        built(),
        job("unit-tests-1-test-smoke", JobState.SUCCEEDED, scenario="smoke"),
        job("unit-tests-1-test-full", JobState.SUCCEEDED, scenario="full"),
    )
    promoting = step(spec, p.status, observe(40, jobs=done)).status
    assert promoting.current_run is not None
    assert promoting.current_run.phase == RunPhase.PROMOTING
    # The operator died after the registry PUT; the new one sees the tag there.
    p = step(spec, promoting, observe(50, jobs=done, tag_resolved=True, tag_digest=DIGEST_A))
    assert not [a for a in p.actions if isinstance(a, MoveTag)]
    assert p.status.promoted_digest == DIGEST_A
    # Had it died before the PUT, the move is asked for again.
    p = step(spec, promoting, observe(50, jobs=done, tag_resolved=True, tag_digest=DIGEST_B))
    assert [a for a in p.actions if isinstance(a, MoveTag)] == [
        MoveTag(digest=DIGEST_A, why="promote")
    ]


def test_build_timeout_fails_the_run() -> None:
    spec = make_spec(buildTimeout="5m")
    status = step(spec, ContainerImageRefreshStatus(), observe(0)).status
    status = step(spec, status, observe(1, polled=True)).status
    running = job("unit-tests-1-build", step="build", reason="ImagePullBackOff")
    status = step(spec, status, observe(10, jobs=(running,))).status
    assert status.current_run is not None
    assert status.current_run.message == "building (ImagePullBackOff)"
    assert logs_wanted(spec, status, RES, observe(302).now) == {"unit-tests-1-build"}
    slow = job("unit-tests-1-build", step="build", log_tail="still compiling\n")
    p = step(spec, status, observe(302, jobs=(slow,)))
    assert p.status.last_run is not None
    assert p.status.last_run.message.startswith("build timed out after 5m")
    assert "still compiling" in p.status.last_run.message


def test_scenarios_record_their_phase_while_running() -> None:
    spec = make_spec()
    p = _to_testing(spec)
    jobs = (
        built(),
        job("unit-tests-1-test-smoke", scenario="smoke"),
        job("unit-tests-1-test-full", JobState.SUCCEEDED, scenario="full"),
    )
    p = step(spec, p.status, observe(35, jobs=jobs))
    run = p.status.current_run
    assert run is not None
    assert {t.name: t.phase for t in run.tests} == {
        "smoke": ScenarioPhase.RUNNING,
        "full": ScenarioPhase.PASSED,
    }


def test_job_names_are_deterministic_and_fit_in_a_label() -> None:
    assert build_job_name(RES, "7") == "unit-tests-7-build"
    assert scenario_job_name(RES, "7", "smoke") == "unit-tests-7-test-smoke"
    long = RES.__class__(namespace="ci", name="x" * 60)
    name = scenario_job_name(long, "12", "a-very-long-scenario-name")
    assert len(name) <= 63 and name == scenario_job_name(long, "12", "a-very-long-scenario-name")
    assert name != scenario_job_name(long, "12", "a-very-long-scenario-nam2")
    assert len(candidate_tag(long, "12")) <= 128


def test_leftover_jobs_of_other_runs_are_removed() -> None:
    spec = make_spec()
    p = _to_testing(spec)
    stray = job("unit-tests-0-build", JobState.SUCCEEDED, run_id="0", step="build")
    p = step(spec, p.status, observe(35, jobs=(built(), stray)))
    assert DeleteJob(job_name="unit-tests-0-build") in p.actions
    assert DeleteJob(job_name="unit-tests-1-build") not in p.actions


def test_a_scenario_whose_image_cannot_be_pulled_fails_before_its_timeout() -> None:
    spec = make_spec()  # timeouts 1m and 2m
    p = _to_testing(spec)
    jobs = (
        built(),
        job("unit-tests-1-test-smoke", JobState.SUCCEEDED, scenario="smoke"),
        job("unit-tests-1-test-full", scenario="full", reason="ImagePullBackOff: unauthorized"),
    )
    p = step(spec, p.status, observe(31, jobs=jobs))
    assert p.status.current_run is not None  # still within the grace period
    p = step(spec, p.status, observe(31 + 90, jobs=jobs))
    last = p.status.last_run
    assert last is not None and last.phase == RunPhase.FAILED
    assert [(f.name, f.reason) for f in last.failed_tests] == [
        ("full", "ImagePullBackOff: unauthorized")
    ]
    assert DeleteJob(job_name="unit-tests-1-test-full") in p.actions


def test_a_build_pod_that_cannot_start_fails_the_run() -> None:
    spec = make_spec()
    status = step(spec, ContainerImageRefreshStatus(), observe(0)).status
    status = step(spec, status, observe(1, polled=True)).status
    stuck = job("unit-tests-1-build", step="build", reason="ErrImagePull: not found")
    p = step(spec, status, observe(100, jobs=(stuck,)))
    assert p.status.last_run is not None
    assert p.status.last_run.message == "build pod cannot start: ErrImagePull: not found"
