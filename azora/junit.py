"""Minimal JUnit XML writer: what CI systems (GitLab, Jenkins, GitHub test reporters) read.

Only the subset every consumer understands: one <testsuites> with one <testsuite>, one
<testcase> per check, a <failure> with a one-line message and a longer text, and <properties>
for facts worth showing next to the case (URL, status, attempts).
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """One test case: `failure` is None when it passed."""

    name: str
    classname: str
    seconds: float
    failure: str | None = None
    details: str = ""
    properties: Mapping[str, str] = field(default_factory=dict)


def to_xml(suite: str, cases: Sequence[Case]) -> ET.ElementTree:
    """The report as an element tree (kept separate from writing so tests can inspect it)."""
    failures = sum(1 for case in cases if case.failure is not None)
    total = sum(case.seconds for case in cases)
    root = ET.Element("testsuites", name=suite, tests=str(len(cases)), failures=str(failures), time=_secs(total))
    element = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=_secs(total),
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        hostname=socket.gethostname(),
    )
    for case in cases:
        element.append(_case_element(case))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: Path, suite: str, cases: Sequence[Case]) -> None:
    """Write the report, creating parent directories. Raises OSError when it cannot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_xml(suite, cases).write(path, encoding="utf-8", xml_declaration=True)


def _case_element(case: Case) -> ET.Element:
    element = ET.Element("testcase", name=case.name, classname=case.classname, time=_secs(case.seconds))
    if case.properties:
        props = ET.SubElement(element, "properties")
        for key, value in case.properties.items():
            ET.SubElement(props, "property", name=key, value=value)
    if case.failure is not None:
        failure = ET.SubElement(element, "failure", message=case.failure, type="failure")
        failure.text = case.details or case.failure
    return element


def _secs(seconds: float) -> str:
    return f"{seconds:.3f}"
