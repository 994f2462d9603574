"""The generated references in docs/ match the code, and the README points at what exists."""

from __future__ import annotations

import re

from azora import docs
from azora.project import BACKENDS_SECTION


def test_generated_references_are_current() -> None:
    assert docs.stale() == [], "docs/ is stale: run `python -m azora.docs` (make docs)"
    config = (docs.DOCS / "config-reference.md").read_text()
    assert "| `status.<name>.activeColor` | `blue` \\| `green` | `blue` |" in config
    assert "| `blue-green-pair` | mandatory (stack rule) |" in (docs.DOCS / "policy-reference.md").read_text()
    cli = (docs.DOCS / "cli-reference.md").read_text()
    assert "## `azora rollback`" in cli and "| `--dry-run` |" in cli
    assert "| 3 | a check after a promotion failed and the service was switched back cleanly |" in cli


def test_the_readme_links_every_reference_and_the_sections_errors_name() -> None:
    text = docs.README.read_text()
    for name in docs.FILES:
        assert f"(docs/{name})" in text, name
    anchor = BACKENDS_SECTION.split("#", 1)[1]
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.M)
    }
    assert anchor in headings


def test_make_targets_named_in_the_readme_exist() -> None:
    makefile = (docs.README.parent / "Makefile").read_text()
    for target in ("up", "test", "unit", "check-config", "docs"):
        assert f"make {target}" in docs.README.read_text()
        assert f"\n{target}:" in makefile
