"""Azora platform deployment tooling: the stack config model and the `azora` CLI."""
