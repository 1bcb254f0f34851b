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
