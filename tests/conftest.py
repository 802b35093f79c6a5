pytest_plugins = [
    "tests.support.acp_fixtures",
    "tests.support.cli",
    "tests.support.fixtures",
    "tests.support.seed",
]
