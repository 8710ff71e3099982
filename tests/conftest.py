"""Fixtures shared by every tier: real host services and the local cluster."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.cluster",
    "tests.fixtures.operator",
    "tests.fixtures.netns",
]
