"""The one error of `azora e2e` that is the user's to fix, reported before pytest runs."""


class E2EInputError(Exception):
    """Bad input or a missing prerequisite: the command exits 2."""
