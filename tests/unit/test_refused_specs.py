"""A spec the operator cannot act on is reported by the runner, once per generation.

What a user checks with ``kubectl get -o yaml`` and ``kubectl events``:
Stalled=True, reason InvalidSpec, a message that starts with the field to fix;
Ready and Reconciling False; ``observedGeneration`` the generation judged; one
Warning Event. Woken again and again without an edit, the object costs no API
request at all; fixing the spec clears the condition. Both kinds go through
their real drivers and the real runner; the API server is a few dicts
(``MemoryApi``), which also counts the requests.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from shakedown.adapters.apiserver import ApiError
from shakedown.adapters.imagerefresh import ImageRefreshDriver
from shakedown.adapters.infrarollout import InfraRolloutDriver
from shakedown.adapters.runner import Runner, Skipped
from shakedown.adapters.wakeups import Wakers
from shakedown.adapters.workloads import _RESOURCES, Kube
from shakedown.planning.decision import EventNote
from shakedown.planning.refusal import Refused, StatusChange, refusal, unreadable
from shakedown.planning.validation import Problem
from tests.unit.test_dormancy import KEY, Object
from tests.unit.test_idle_cost import EchoDriver
from tests.unit.test_runner import NOW, apply_patch, run

NS = "ci"
COLLECTIONS = {plural for _, plural, _ in _RESOURCES.values()}


class MemoryApi:
    """The API server as the drivers use it: objects by path, status merge patches,
    lists, and 404 for what is not there. Anything else is refused, so a test notices."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.version = 100

    def put(self, kind: str, obj: dict[str, Any]) -> str:
        path = Kube(self).path(kind, NS, obj["metadata"]["name"])  # type: ignore[arg-type]
        obj["metadata"].setdefault("namespace", NS)
        obj["metadata"]["resourceVersion"] = str(self._next())
        self.objects[path] = obj
        return path

    def _next(self) -> int:
        self.version += 1
        return self.version

    def call(self, method: str, path: str, **options: Any) -> Any:
        self.requests.append(f"{method} {path}")
        if method == "GET":
            if path in self.objects:
                return copy.deepcopy(self.objects[path])
            if path.rsplit("/", 1)[-1] in COLLECTIONS:
                items = [o for p, o in self.objects.items() if p.rsplit("/", 1)[0] == path]
                return {"items": copy.deepcopy(items)}
            raise ApiError(404, "Not Found")
        owner = path.removesuffix("/status")
        if method == "PATCH" and owner != path and owner in self.objects:
            obj = self.objects[owner]
            obj["status"] = apply_patch(obj.get("status") or {}, options["body"]["status"])
            obj["metadata"]["resourceVersion"] = str(self._next())
            return copy.deepcopy(obj)
        raise ApiError(501, f"not in this test's API server: {method} {path}")

    def writes(self) -> list[str]:
        return [r for r in self.requests if not r.startswith("GET ")]

    def edit(self, path: str, spec: Mapping[str, Any]) -> None:
        """A user's edit: the spec merge-patched, a new generation."""
        obj = self.objects[path]
        obj["spec"] = apply_patch(obj["spec"], dict(spec))
        obj["metadata"]["generation"] += 1
        obj["metadata"]["resourceVersion"] = str(self._next())


def conditions(api: MemoryApi, path: str) -> dict[str, dict[str, Any]]:
    status = api.objects[path].get("status") or {}
    return {c["type"]: c for c in status.get("conditions") or []}


class Said:
    """The Events the runner posts, as ``kubectl events`` would list them."""

    def __init__(self) -> None:
        self.events: list[EventNote] = []

    def __call__(self, body: Mapping[str, Any], note: EventNote) -> None:
        self.events.append(note)

    def warnings(self) -> list[EventNote]:
        return [e for e in self.events if e.type == "Warning"]


AnyRunner = Runner[Any, Any, Any, Any]


def step(runner: AnyRunner) -> Any:
    return run(runner.step())


def news(runner: AnyRunner, api: MemoryApi, path: str) -> None:
    """The object's own watch event after an edit: the runner sees the new body."""
    runner.bodies.put(runner.key, copy.deepcopy(api.objects[path]))


# --------------------------------------------------------------------------- the loop
class RefusingDriver(EchoDriver):
    """Refuses the spec it starts with (``want: bad``); any edit makes it valid."""

    def __init__(self) -> None:
        super().__init__()
        assert self.obj is not None
        self.obj["spec"] = {"want": "bad"}

    def admit(self, body: dict[str, Any], status: Any, deleting: bool) -> Any:
        self.journal.append("admit")
        if body["spec"] == {"want": "bad"}:
            return Refused(problems=(Problem(field="spec.want", message="cannot be 'bad'"),))
        return body["spec"]

    def writes(self) -> list[str]:
        return [line for line in self.journal if line.startswith("write")]


def test_a_refused_object_sleeps_dormant_until_it_is_edited() -> None:
    driver = RefusingDriver()
    thing = Object(driver)

    async def scenario() -> None:
        thing.deliver("ADDED")
        await thing.until(lambda: thing.registry.dormant(KEY) is not None)
        assert len(driver.writes()) == 1
        thing.deliver()  # the echo of its own refusal
        thing.registry.wakers.wake_namespace(KEY[1])  # a pod changed nearby
        assert not thing.registry.running(KEY), "nothing but an edit can help"
        thing.registry.wakers.wake(KEY)  # e.g. the refresh its imageFrom names moved on
        await thing.until(lambda: driver.journal.count("admit") == 2)
        await thing.until(lambda: thing.registry.dormant(KEY) is not None)
        assert len(driver.writes()) == 1, "judged again, the same verdict is not written again"
        thing.edit()
        thing.deliver()
        await thing.asleep(1)

    run(scenario())
    assert driver.reads == 0, "every step used the body the watch or its own write delivered"
    assert driver.journal.count("event Warning InvalidSpec") == 1
    stalled = next(c for c in driver.status["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "InvalidSpec" and stalled["message"] == "spec.want: cannot be 'bad'"


# --------------------------------------------------------------------------- refreshes
def refresh(**spec: Any) -> dict[str, Any]:
    body = {
        "image": "registry.example/ci/unit-tests",
        "source": {"configMap": {"name": "unit-tests-context"}},
        "tests": [{"name": "smoke", "command": ["/bin/true"]}],
        "suspend": True,  # nothing to build: this is about the spec
        **spec,
    }
    return {"metadata": {"name": "nightly", "generation": 1}, "spec": body}


def refresh_runner(api: MemoryApi, said: Said) -> AnyRunner:
    driver = ImageRefreshDriver(Kube(api), NS, "nightly", post_event=said, clock=lambda: NOW)  # type: ignore[arg-type]
    return Runner(driver, Wakers())


def test_a_refresh_whose_schedule_never_fires_is_stalled_naming_it_once() -> None:
    api, said = MemoryApi(), Said()
    path = api.put("ContainerImageRefresh", refresh(schedule="0 0 30 2 *"))
    runner = refresh_runner(api, said)

    assert step(runner) is Skipped.REFUSED
    found = conditions(api, path)
    assert found["Stalled"]["status"] == "True"
    assert found["Stalled"]["reason"] == "InvalidSpec"
    assert found["Stalled"]["message"].startswith("spec.schedule"), found["Stalled"]
    assert found["Ready"]["status"] == "False" and found["Reconciling"]["status"] == "False"
    assert all(c["observedGeneration"] == 1 for c in found.values())
    assert api.objects[path]["status"]["observedGeneration"] == 1
    [warning] = said.warnings()
    assert warning.reason == "InvalidSpec" and "spec.schedule" in warning.message
    assert api.writes() == [f"PATCH {path}/status"]

    # Woken again and again (its Jobs, a refresh, a restart's listing): nothing more.
    before = len(api.requests)
    for _ in range(3):
        assert step(runner) is Skipped.REFUSED
    assert api.requests[before:] == [], "an invalid object costs no request while idle"
    assert len(said.warnings()) == 1

    # Fixed: the planner takes over and the InvalidSpec verdict is gone.
    api.edit(path, {"schedule": "0 0 1 2 *"})
    news(runner, api, path)
    assert not isinstance(step(runner), Skipped)
    found = conditions(api, path)
    assert found["Stalled"]["status"] == "False", found["Stalled"]
    assert found["Stalled"]["observedGeneration"] == 2
    assert api.objects[path]["status"]["observedGeneration"] == 2


def test_a_new_generation_still_invalid_is_judged_again_without_a_second_warning() -> None:
    api, said = MemoryApi(), Said()
    path = api.put("ContainerImageRefresh", refresh(timeZone="Mars/Olympus_Mons"))
    runner = refresh_runner(api, said)
    step(runner)
    api.edit(path, {"historyLimit": 3})  # an unrelated edit: still the same problem
    news(runner, api, path)
    assert step(runner) is Skipped.REFUSED
    found = conditions(api, path)
    assert found["Stalled"]["message"].startswith("spec.timeZone"), found["Stalled"]
    assert found["Stalled"]["observedGeneration"] == 2, "generation 2 was judged too"
    assert len(said.warnings()) == 1, "what users see did not change"
    assert len(api.writes()) == 2


# --------------------------------------------------------------------------- rollouts
def rollout(**spec: Any) -> dict[str, Any]:
    body = {
        "targets": [{"kind": "Deployment", "name": "web"}],
        "change": {"images": [{"container": "web", "image": "registry.example/web:2"}]},
        **spec,
    }
    return {"metadata": {"name": "change", "generation": 1, "uid": "u1"}, "spec": body}


def web(*containers: str) -> dict[str, Any]:
    pods = {"containers": [{"name": c, "image": "registry.example/web:1"} for c in containers]}
    return {"metadata": {"name": "web"}, "spec": {"template": {"spec": pods}}}


def rollout_runner(api: MemoryApi, said: Said) -> AnyRunner:
    wakers = Wakers()
    driver = InfraRolloutDriver(Kube(api), NS, "change", wakers, post_event=said, clock=lambda: NOW)  # type: ignore[arg-type]
    return Runner(driver, wakers)


def test_a_canary_of_a_daemonset_is_stalled_naming_the_target_until_fixed() -> None:
    api, said = MemoryApi(), Said()
    spec = rollout(
        targets=[{"kind": "DaemonSet", "name": "node-agent"}],
        change={"images": [{"container": "agent", "image": "registry.example/agent:2"}]},
        strategy={"type": "Canary", "canary": {"steps": [{"weight": 50}]}},
    )
    path = api.put("InfraRollout", spec)
    runner = rollout_runner(api, said)

    assert step(runner) is Skipped.REFUSED, "only an edit can fix it: it sleeps until then"
    found = conditions(api, path)
    assert found["Stalled"]["status"] == "True" and found["Stalled"]["reason"] == "InvalidSpec"
    assert found["Stalled"]["message"].startswith("spec.targets[0].kind"), found["Stalled"]
    assert said.warnings()[0].reason == "InvalidSpec"
    writes = len(api.writes())
    for _ in range(3):
        assert step(runner) is Skipped.REFUSED
    assert len(api.writes()) == writes and len(said.warnings()) == 1

    api.edit(path, {"strategy": {"type": "Replace", "canary": None}})
    news(runner, api, path)
    assert not isinstance(step(runner), Skipped)
    found = conditions(api, path)
    assert found["Stalled"]["observedGeneration"] == 2
    assert found["Stalled"]["reason"] != "InvalidSpec", found["Stalled"]


def test_an_image_for_a_container_no_target_has_is_stalled_and_waits_for_the_target() -> None:
    api, said = MemoryApi(), Said()
    path = api.put("InfraRollout", rollout())
    api.put("Deployment", web("app"))
    runner = rollout_runner(api, said)

    assert step(runner) is Skipped.WAITING, "a change to the Deployment may fix it"
    found = conditions(api, path)
    message = found["Stalled"]["message"]
    assert message.startswith("spec.change.images[0].container"), message
    assert "'web'" in message and "containers: app" in message
    assert len(said.warnings()) == 1


def rollout_naming_a_template(api: MemoryApi, said: Said) -> tuple[str, AnyRunner]:
    """A rollout whose metric check names MetricTemplate ``error-rate``, and its runner."""
    check = {"name": "errors", "templateRef": {"name": "error-rate"}}
    path = api.put("InfraRollout", rollout(smokeTests={"metrics": [check]}))
    api.put("Deployment", web("web"))
    return path, rollout_runner(api, said)


def test_a_metric_check_naming_a_missing_template_waits_for_it() -> None:
    api, said = MemoryApi(), Said()
    path, runner = rollout_naming_a_template(api, said)

    assert step(runner) is Skipped.WAITING, "the template's creation wakes it"
    found = conditions(api, path)
    message = found["Stalled"]["message"]
    assert message.startswith("spec.smokeTests.metrics[0].templateRef.name"), message
    assert "'error-rate'" in message
    writes = len(api.writes())
    step(runner)
    assert len(api.writes()) == writes, "the same verdict is not written twice"

    api.put("MetricTemplate", {"metadata": {"name": "error-rate"}, "spec": {}})
    assert not isinstance(step(runner), Skipped), "a template that appears lets it start"
    found = conditions(api, path)
    assert found["Stalled"]["reason"] != "InvalidSpec", found["Stalled"]


class TemplatesUnlistable(MemoryApi):
    """An API server that cannot list MetricTemplates just now (a 503)."""

    def call(self, method: str, path: str, **options: Any) -> Any:
        if method == "GET" and path.endswith("/metrictemplates"):
            self.requests.append(f"{method} {path}")
            raise ApiError(503, "Service Unavailable")
        return super().call(method, path, **options)


def test_templates_that_cannot_be_listed_fail_the_step_not_the_spec() -> None:
    api, said = TemplatesUnlistable(), Said()
    path, runner = rollout_naming_a_template(api, said)

    with pytest.raises(ApiError):  # the runner's loop retries a failed step
        step(runner)
    assert "Stalled" not in conditions(api, path), "a template unseen is not a missing one"
    assert api.writes() == [] and said.warnings() == []


# --------------------------------------------------------------------------- the verdict, pure
def test_a_verdict_is_written_when_its_words_or_generation_change_said_when_ready_does() -> None:
    def problem(field: str) -> Refused:
        return Refused(problems=(Problem(field=field, message="wrong"),))

    ready = {"type": "Ready", "status": "True", "reason": "Promoted", "message": "latest"}
    first = refusal({"conditions": [ready]}, problem("spec.a"), generation=4, now=NOW)
    assert first.event == EventNote("Warning", "InvalidSpec", "spec.a: wrong")
    assert first.patch["observedGeneration"] == 4
    stored = apply_patch({"conditions": [ready]}, first.patch)
    assert refusal(stored, problem("spec.a"), generation=4, now=NOW) == StatusChange()
    moved = refusal(stored, problem("spec.a"), generation=5, now=NOW)
    assert moved.patch["observedGeneration"] == 5 and moved.event is None
    other = refusal(stored, problem("spec.b"), generation=4, now=NOW)
    assert "observedGeneration" not in other.patch and other.event is not None
    assert {c["type"]: c["message"] for c in other.patch["conditions"]} == {
        "Ready": "spec.b: wrong",
        "Reconciling": "spec.b: wrong",
        "Stalled": "spec.b: wrong",
    }


def test_a_status_that_does_not_parse_is_said_once_and_its_generation_is_not_observed() -> None:
    stored_before = {"observedGeneration": 3, "phase": "Sideways"}
    first = unreadable(stored_before, "status.phase: not a phase", generation=4, now=NOW)
    assert first.event == EventNote(
        "Warning",
        "InvalidStatus",
        "status does not parse, not acting on it: status.phase: not a phase",
    )
    assert "observedGeneration" not in first.patch, "nothing of generation 4 was planned for"
    stalled = {c["type"]: c for c in first.patch["conditions"]}["Stalled"]
    assert stalled["status"] == "True" and "status.phase" in stalled["message"]
    stored = apply_patch(stored_before, first.patch)
    assert unreadable(stored, "status.phase: not a phase", generation=4, now=NOW) == StatusChange()
