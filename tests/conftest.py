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
