"""Tests of `azora e2e` and of the browser suites it ships (azora/e2e/suites), marker `e2e`."""
