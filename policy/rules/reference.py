"""Generate the README's policy reference from the catalogue (`python -m policy.rules.reference`)."""

from __future__ import annotations

from policy.rules.catalog import RULES


def reference_table() -> str:
    rows = ["| rule | level | what it checks | why | how to fix | standard |", "|---|---|---|---|---|---|"]
    for rule in RULES:
        scope = " (stack rule)" if rule.stack else ""
        cells = [f"`{rule.name}`", rule.enforcement + scope, rule.description, rule.why, rule.fix, rule.standard]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(reference_table())
