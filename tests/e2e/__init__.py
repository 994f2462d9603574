"""Browser suites (pytest-playwright, marker `e2e`): run by `azora e2e` or plain pytest."""
