"""The README's generated references match the code, and its commands exist."""

from __future__ import annotations

from azora.docs import README, render


def test_generated_sections_are_current() -> None:
    text = README.read_text()
    assert render(text) == text, "README is stale: run `python -m azora.docs`"
    assert "| `services.<name>.activeColor` | `blue` \\| `green` | required |" in text
    assert "| `blue-green-pair` | mandatory (stack rule) |" in text


def test_make_targets_named_in_the_readme_exist() -> None:
    makefile = (README.parent / "Makefile").read_text()
    for target in ("up", "test"):
        assert f"make {target}" in README.read_text()
        assert f"\n{target}:" in makefile
