"""The dashboard in a real browser (headless Chromium) against the real cluster.

Each test starts ``shakedown dashboard -n <its namespace>`` as a user would, and
drives the page: what a user sees (a failing scenario and its log tail, a
rollout's timeline) and what a click does (the tag moves in the registry, a
rollout rolls production back, a refusal shows the API server's words). The
pages are saved as screenshots: under the test's temporary folder, or as the
ones docs/ keeps when SHAKEDOWN_SCREENSHOTS names that folder (``make
screenshots``), so a test run never leaves the checkout changed.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from shakedown.adapters import kubeclient
from shakedown.adapters.workloads import Kube
from tests.cluster.test_imagerefresh_runs import CHECK_FAIL, CHECK_OK, TESTS, containerfile
from tests.fixtures.dashboard import Relay, running_dashboard, viewer_kubeconfig
from tests.fixtures.imagerefresh import Refreshes
from tests.fixtures.infrarollout import (
    config_data,
    deployment_ready,
    rollout,
    status,
    template_of,
    workload,
)
from tests.fixtures.operator import REPO, RunningOperator

pytestmark = pytest.mark.cluster


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """The folder SHAKEDOWN_SCREENSHOTS names (``make screenshots``), else a temp one."""
    folder = os.environ.get("SHAKEDOWN_SCREENSHOTS")
    return (REPO / folder) if folder else tmp_path


def wait(
    browser: Any,
    what: str,
    check: Callable[[Any], Any],
    timeout: float,
    seen: Callable[[], object] | None = None,
) -> Any:
    """``check(browser)`` once it is truthy; ``seen()`` explains a timeout."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(
            browser,
            timeout,
            poll_frequency=0.3,
            ignored_exceptions=[StaleElementReferenceException],
        ).until(check)
    except TimeoutException:
        found = f"; {seen()}" if seen is not None else ""
        raise AssertionError(f"timed out after {timeout}s waiting for {what}{found}") from None


def card(browser: Any, card_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, card_id)


def card_text(browser: Any, card_id: str) -> str:
    """The card's text; a live update may replace the card between finding and reading it."""
    return str(wait(browser, f"the text of {card_id}", lambda b: card(b, card_id).text, 10))


def click(browser: Any, card_id: str, xpath: str) -> None:
    """Click, finding the button again when a live update replaced the card meanwhile."""
    from selenium.webdriver.common.by import By

    def press(b: Any) -> bool:
        card(b, card_id).find_element(By.XPATH, xpath).click()
        return True

    wait(browser, f"{xpath} in {card_id}", press, 10)


def toast(browser: Any) -> str:
    from selenium.webdriver.common.by import By

    element = browser.find_element(By.ID, "toast")
    return str(element.text) if element.is_displayed() else ""


def screenshot(browser: Any, path: Path) -> None:
    """The whole page at 1400 px wide, as docs/ keeps it (a toast of the test's clicks hidden)."""
    browser.execute_script("document.getElementById('toast').hidden = true; window.scrollTo(0, 0)")
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": 1400, "height": min(height, 3000), "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        browser.save_screenshot(str(path))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


# --------------------------------------------------------------------------- images
def test_the_images_page_shows_a_failing_scenario_and_moves_the_tag_back(
    refreshes: Refreshes,
    registry: str,
    browser: Any,
    kubeconfig: Path,
    shots: Path,
    tmp_path: Path,
) -> None:
    r = refreshes
    r.config_map("ctx", {"Containerfile": containerfile(registry), "check.sh": CHECK_OK})
    spec = {
        "image": r.image("app"),
        "tag": "stable",
        "source": {"configMap": {"name": "ctx"}, "buildArgs": {"VERSION": "1"}},
        "triggers": {"source": False, "baseImage": False},
        "tests": TESTS,
    }
    r.create("app", spec)
    digest1 = r.wait_run("app", "1")["lastRun"]["candidateDigest"]
    r.patch_spec("app", {"source": {"configMap": {"name": "ctx"}, "buildArgs": {"VERSION": "2"}}})
    run2 = r.wait_run("app", "2")["lastRun"]
    assert run2["phase"] == "Succeeded", run2
    digest2 = run2["candidateDigest"]
    assert r.tag_digest("app", "stable") == digest2
    r.config_map("ctx", {"Containerfile": containerfile(registry), "check.sh": CHECK_FAIL})

    card_id = f"cir-{r.namespace}-app"
    with running_dashboard(kubeconfig, r.namespace, tmp_path / "dashboard.log") as url:
        browser.get(url + "images")
        wait(browser, "the card", lambda b: "Run now" in card(b, card_id).text, 30)
        click(browser, card_id, ".//button[text()='Run now']")
        wait(browser, "the request to be accepted", lambda b: "run requested" in toast(b), 15)
        # The page is not reloaded: the run's end arrives over the event stream.
        failure = wait(
            browser,
            "the failing scenario",
            lambda b: "FAIL: widget is broken" in card(b, card_id).text and card(b, card_id),
            300,
            lambda: f"page: {card_text(browser, card_id)!r}; status: {r.status('app')}",
        )
        assert "scenario check in run 3: exit code 3" in failure.text
        assert "checking widget" in failure.text
        last = r.status("app")["lastRun"]
        assert (last["id"], last["phase"], last["trigger"]) == ("3", "Failed", "Manual")
        assert r.tag_digest("app", "stable") == digest2  # a failed run moves nothing

        click(
            browser,
            card_id,
            f".//form[input[@name='digest' and @value='{digest1}']]/button",
        )
        r.wait_for("the tag back at run 1", lambda: r.tag_digest("app", "stable") == digest1, 60)
        wait(
            browser,
            "the operator's answer",
            lambda b: "Last move of the tag: RolledBack" in card(b, card_id).text,
            60,
        )
        tag_row = f".//table[@class='tags']//tr[td/code[@title='{digest1}']]"
        row = card(browser, card_id).find_element("xpath", tag_row)
        assert "stable is here" in row.text
        screenshot(browser, shots / "dashboard-images.png")


# --------------------------------------------------------------------------- rollouts
def test_the_rollouts_page_shows_the_timeline_and_abort_rolls_back(
    operator: RunningOperator,
    namespace: str,
    k8s_api: ApiClient,
    busybox_image: str,
    browser: Any,
    kubeconfig: Path,
    shots: Path,
    tmp_path: Path,
) -> None:
    kube = Kube(kubeclient.connection(k8s_api))
    workload(kube, namespace, busybox_image)
    template_before = template_of(kube, namespace)
    rollout(kube, namespace, message="v2", bake="5m", http=False)
    card_id = f"iro-{namespace}-change"
    with running_dashboard(kubeconfig, namespace, tmp_path / "dashboard.log") as url:
        browser.get(url + "rollouts")

        def phase(b: Any) -> str:
            return str(card(b, card_id).get_attribute("data-phase"))

        wait(
            browser,
            "the Baking phase in the page",
            lambda b: phase(b) == "Baking",
            180,
            lambda: f"status: {status(kube, namespace)}",
        )
        assert config_data(kube, namespace)["MESSAGE"] == "v2"
        text = card_text(browser, card_id)
        for shown in ("Snapshot", "Shadow", "Smoke checks", "Shift", "Bake", "2/2 ready"):
            assert shown in text, shown
        assert status(kube, namespace)["shadowNamespace"] in text

        click(browser, card_id, ".//button[text()='Abort and roll back']")
        wait(browser, "the RolledBack phase", lambda b: phase(b) == "RolledBack", 120)
        final = status(kube, namespace)
        assert final["phase"] == "RolledBack", final
        assert "abort" in final["rollbackReason"].lower()
        assert final["rollbackReason"] in card_text(browser, card_id)
        assert config_data(kube, namespace) == {"MESSAGE": "v1"}
        assert template_of(kube, namespace) == template_before
        wait(browser, "production ready again", lambda b: "2/2 ready" in card(b, card_id).text, 90)
        assert deployment_ready(kube, namespace, "web")
        screenshot(browser, shots / "dashboard-rollouts.png")


# --------------------------------------------------------------------------- refusals
def test_what_the_caller_may_not_do_is_refused_in_the_api_servers_words(
    k8s_api: ApiClient,
    namespace: str,
    registry: str,
    crds: list[str],
    browser: Any,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    viewer = viewer_kubeconfig(k8s_api, kubeconfig, namespace, tmp_path / "viewer.kubeconfig")
    r = Refreshes(k8s_api, namespace, registry)
    r.create(
        "app",
        {
            "image": r.image("app"),
            "source": {"configMap": {"name": "ctx"}},
            "tests": TESTS,
            "suspend": True,  # nothing runs, whichever operator watches this namespace
        },
    )
    card_id = f"cir-{namespace}-app"
    with running_dashboard(viewer, namespace, tmp_path / "dashboard.log") as url:
        browser.get(url + "images")
        wait(browser, "the card", lambda b: "Run now" in card(b, card_id).text, 30)
        click(browser, card_id, ".//button[text()='Run now']")
        said = wait(browser, "the refusal", lambda b: toast(b), 15)
        assert said.startswith("403 Forbidden: "), said
        assert f"system:serviceaccount:{namespace}:viewer" in said
        assert 'cannot patch resource "containerimagerefreshes"' in said
        assert "Traceback" not in browser.page_source
    annotations = r.get("app")["metadata"].get("annotations") or {}
    assert "shakedown.dev/run-requested" not in annotations


# --------------------------------------------------------------------------- lost cluster
def test_a_lost_cluster_is_shown_and_the_page_recovers_when_it_is_back(
    k8s_api: ApiClient,
    namespace: str,
    registry: str,
    crds: list[str],
    browser: Any,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    config = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    server = urllib.parse.urlsplit(cluster["cluster"]["server"])
    relay = Relay((str(server.hostname), int(server.port or 443)))
    relay.start()
    cluster["cluster"]["server"] = f"https://{relay.host}:{relay.port}"
    relayed = tmp_path / "relayed.kubeconfig"
    relayed.write_text(yaml.safe_dump(config))
    r = Refreshes(k8s_api, namespace, registry)
    r.create(
        "app",
        {
            "image": r.image("app"),
            "source": {"configMap": {"name": "ctx"}},
            "tests": TESTS,
            "suspend": True,
        },
    )
    card_id = f"cir-{namespace}-app"
    try:
        with running_dashboard(relayed, namespace, tmp_path / "dashboard.log") as url:
            browser.get(url + "images")
            wait(
                browser, "the live page", lambda b: b.find_element("id", "conn").text == "live", 30
            )
            assert "Run now" in card_text(browser, card_id)

            relay.cut()
            banner = wait(
                browser,
                "the lost connection shown",
                lambda b: (e := b.find_element("id", "banner")).is_displayed() and e.text,
                30,
            )
            assert "lost the connection to the API server" in banner
            assert browser.find_element("id", "conn").text == "cluster unreachable"
            r.patch_spec("app", {"schedule": "15 3 * * *"})  # a change made meanwhile

            relay.start()
            wait(
                browser,
                "the page live again",
                lambda b: b.find_element("id", "conn").text == "live",
                60,
            )
            assert not browser.find_element("id", "banner").is_displayed()
            wait(
                browser,
                "the change made meanwhile",
                lambda b: "15 3 * * *" in card(b, card_id).text,
                30,
            )
    finally:
        relay.cut()
