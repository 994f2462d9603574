"""The browser suites `azora e2e` runs (pytest-playwright, marker `e2e`), shipped with the package.

One file per suite (`test_<suite>.py`, the names of `azora.e2e.SUITES`), the fixtures in
`conftest.py` and the shared user steps in `flows.py`. They live outside the project's pytest
testpaths, so they run only when named: through `azora e2e` (`azora.e2e.runner`).
"""
