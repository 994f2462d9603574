import pytest

# pytest rewrites asserts (the detailed failure diffs) only in test modules and conftest files,
# unless a helper module is registered before its first import; importing any tests.unit module
# runs this first, in every pytest-xdist worker too.
pytest.register_assert_rewrite("tests.unit.policy_support")
