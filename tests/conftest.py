pytest_plugins = [
    "tests.support.acp_fixtures",
    "tests.support.fixtures",
    "tests.support.seed",
    "tests.support.cli",
]
