"""Reusable Pulumi ComponentResources for the Azora platform (one concept per module)."""
