"""Test configuration shared by every tier.

Fixtures live in ``tests/fixtures/`` (one module per concern, each owned by the
part of the project it serves) and are loaded here as plugins.
"""

pytest_plugins = [
    "tests.fixtures.cluster",
    "tests.fixtures.operator",
    "tests.fixtures.gitserver",
    "tests.fixtures.imagerefresh",
    "tests.fixtures.browser",
    "tests.fixtures.infrarollout",
    "tests.fixtures.flux",
]


import ipaddress  # noqa: E402
import re  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from shakedown import outbound  # noqa: E402

#: The tests' own servers (Prometheus, webhook receivers, scripted registries)
#: listen on the host's loopback, which the operator refuses by default.
TEST_OUTBOUND_ALLOW = "127.0.0.1/32"


@pytest.fixture(autouse=True)
def _outbound_allows_test_servers() -> Iterator[None]:
    """In-process code may reach the tests' loopback servers; tests of the rule reset it."""
    outbound.reset(outbound.OutboundPolicy(allow=(ipaddress.ip_network(TEST_OUTBOUND_ALLOW),)))
    yield
    outbound.reset()


#: Lines of an operator's log shown under a failed cluster test.
LOG_TAIL_LINES = 60
#: DEBUG lines shown apart: which watches kopf started (in which namespaces) and retried.
WATCH_LINES = re.compile(r"watch-stream|Request attempt|listed at start")
WATCH_TAIL_LINES = 20


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that ran an operator shows that operator's last INFO-and-above lines.

    CI keeps only what pytest prints, and "status {} after 180 s" says nothing about
    why the operator did not act; its own log usually does.
    """
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    for name in ("iro_operator", "operator"):
        running = funcargs.get(name)
        log = getattr(running, "log", None)
        if not callable(log):
            continue
        try:
            text = str(log()).splitlines()
        except OSError as exc:
            text = [f"(log unreadable: {exc})"]
        above = [line for line in text if "[DEBUG" not in line]
        watches = [line for line in text if "[DEBUG" in line and WATCH_LINES.search(line)]
        sections = (
            (f"last {LOG_TAIL_LINES} lines above DEBUG", above[-LOG_TAIL_LINES:]),
            (f"last {WATCH_TAIL_LINES} lines about watches", watches[-WATCH_TAIL_LINES:]),
        )
        for title, lines in sections:
            report.sections.append((f"{name} log, {title}", "\n".join(lines)))
