"""`azora policy check` input (issue #13): standard input (`-`, alone or with paths, as
`helm template ... | azora policy check -` sends it) and `List` kinds unpacked with each item's
own file, line and place in the list. The kind rules are in test_policy_kinds.py, the output
formats in test_policy_sarif.py.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from azora.manifests import ManifestError, read_manifests
from policy.rules.model import Source
from tests.unit.policy_cli_support import (
    AZORA,
    BAD,
    invoke,
    manifest,
    report,
    stream,
)

# --------------------------------------------------------------------------------------
# Standard input: `-`, alone or next to files; it forms one stack with them.
# --------------------------------------------------------------------------------------


def test_stdin_gives_the_same_report_as_the_file() -> None:
    text = (BAD / "multi-doc.yaml").read_text()
    assert report("-", stdin=text) == report(BAD / "multi-doc.yaml")
    human = invoke("-", stdin=text)
    assert human.exit_code == 1
    assert human.stdout.splitlines()[-1] == "3 resources, 4 mandatory and 0 advisory violations"


def test_helm_template_piped_in_is_checked() -> None:
    # `helm template ... | azora policy check -`: `# Source:` comments and `---` separators.
    code, document = report("-", stdin=(BAD / "helm-template.yaml").read_text())
    assert code == 1
    assert document["resources"] == 2
    assert [(v["policy"], v["resource"]) for v in document["violations"]] == [
        ("no-service-account-token", "StatefulSet/shop/cache"),
        ("workload-namespace-default-deny", "StatefulSet/shop/cache"),  # advisory: `shop` is not declared
    ]


def test_stdin_and_paths_form_one_stack() -> None:
    # On its own the List's `edge` Service selects nothing; a Deployment piped in next to it
    # with the pods it selects satisfies the stack rule, so both inputs were judged together.
    ghost = manifest(
        "apps/v1",
        "Deployment",
        "ghost",
        spec={
            "selector": {"matchLabels": {"app.kubernetes.io/name": "ghost"}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": "ghost"}}, "spec": {"containers": []}},
        },
    )
    _, alone = report(BAD / "list.yaml")
    _, together = report(BAD / "list.yaml", "-", stdin=ghost)
    assert together["resources"] == alone["resources"] + 1 == 3
    selects = [v for v in together["violations"] if v["policy"] == "service-selects-workload"]
    assert [v["resource"] for v in alone["violations"] if v["policy"] == "service-selects-workload"] == [
        "Service/shop/edge"
    ]
    assert selects == []


def test_bad_yaml_on_stdin_names_stdin_the_document_and_the_line() -> None:
    text = textwrap.dedent(
        """\
        ---
        # Source: shop/templates/configmap.yaml
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: good, namespace: shop}
        ---
        # Source: shop/templates/broken.yaml
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: [broken, namespace: shop}
        """
    )
    for flags in ((), ("--json",), ("--format", "sarif")):
        result = invoke(*flags, "-", stdin=text)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith(
            "error: <stdin>:10: not valid YAML (document 2, # Source: shop/templates/broken.yaml): "
        ), result.stderr


def test_an_object_without_kind_on_stdin_names_stdin_and_its_line() -> None:
    text = stream(manifest("v1", "ConfigMap", "a"), "apiVersion: v1\nmetadata: {name: b}\n")
    result = invoke("-", stdin=text)
    assert result.exit_code == 2
    assert "error: <stdin>:8: an object needs string apiVersion and kind" in result.stderr


def test_stdin_can_be_given_once() -> None:
    result = invoke("-", "-", stdin=manifest("v1", "ConfigMap"))
    assert result.exit_code == 2
    assert "- (standard input) can be given only once" in result.stderr


def test_console_script_reads_a_pipe() -> None:
    assert AZORA.exists(), f"console script not installed at {AZORA}"
    text = stream(manifest("v1", "Deployment", "api"), manifest("monitoring.coreos.com/v1", "ServiceMonitor", "api"))
    done = subprocess.run(
        [str(AZORA), "policy", "check", "-"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "mandatory unknown-kind  Deployment/shop/api: v1 has no kind Deployment in Kubernetes 1.34; "
        "set apiVersion: apps/v1",
        "2 resources (1 custom resource unchecked: ServiceMonitor monitoring.coreos.com/v1 x1 "
        "[read in part by servicemonitor-selects-service]), 1 mandatory and 0 advisory violations",
    ]


def test_nothing_to_check_fails_closed_instead_of_passing(tmp_path: Path) -> None:
    # `helm template broken | azora policy check -`: helm fails, the pipe is empty.
    result = invoke("-", stdin="")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "error: <stdin>: no Kubernetes objects to check\n"
    comments = tmp_path / "comments.yaml"
    comments.write_text("# nothing rendered\n---\n---\n")
    result = invoke(comments, "-", stdin="\n")
    assert result.exit_code == 2
    assert result.stderr == f"error: {comments}, <stdin>: no Kubernetes objects to check\n"
    # One object anywhere is enough: an empty file beside a real one is fine.
    assert report(comments, "-", stdin=manifest("v1", "ConfigMap"))[0] == 0


def test_bytes_that_are_not_utf8_are_named_not_a_traceback(tmp_path: Path) -> None:
    garbage = b"kind: ConfigMap\n\xff\xfe"
    done = subprocess.run(
        [str(AZORA), "policy", "check", "-"], input=garbage, capture_output=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr.decode() == "error: <stdin>: not UTF-8 text (byte 0xff at offset 16)\n"
    path = tmp_path / "latin1.yaml"
    path.write_bytes(garbage)
    with pytest.raises(ManifestError, match=re.escape(f"{path}: not UTF-8 text (byte 0xff at offset 16)")):
        read_manifests([path])


# --------------------------------------------------------------------------------------
# `List` kinds: unpacked (nested too), each item with its own line and place in the list.
# --------------------------------------------------------------------------------------

NESTED_LIST = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: first, namespace: shop}
  - apiVersion: v1
    kind: List
    items:
      - apiVersion: v1
        kind: Secret
        metadata: {name: inner, namespace: shop}
  - apiVersion: v1
    kind: ConfigMapList
    items:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {generateName: generated-, namespace: shop}
"""


def test_lists_are_unpacked_with_where_each_item_came_from(tmp_path: Path) -> None:
    path = tmp_path / "lists.yaml"
    path.write_text(NESTED_LIST)
    resources = read_manifests([path])
    assert [(r.type, r.source) for r in resources] == [
        ("kubernetes:core/v1:ConfigMap", Source(str(path), 4, "items[0]")),
        ("kubernetes:core/v1:Secret", Source(str(path), 10, "items[1].items[0]")),
        ("kubernetes:core/v1:ConfigMap", Source(str(path), 16, "items[2].items[0]")),
    ]
    # An item without metadata.name (generateName) is named by where it was read.
    assert resources[2].display == f"ConfigMap/shop/{path}:16 items[2].items[0]"
    assert resources[0].display == "ConfigMap/shop/first"


def test_a_list_of_valid_objects_passes_the_kind_rules() -> None:
    code, document = report("-", stdin=NESTED_LIST)
    assert document["resources"] == 3
    assert (code, document["violations"], document["unchecked"]) == (0, [], [])


def test_a_broken_list_item_is_named_by_its_place(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n  - metadata: {}\n")
    with pytest.raises(ManifestError, match=re.escape(f"{path}:6 items[1]: an object needs string apiVersion")):
        read_manifests([path])
    path.write_text("apiVersion: v1\nkind: List\nitems: {a: b}\n")
    with pytest.raises(ManifestError, match=re.escape(f"{path}:1: a List needs `items:` as a list")):
        read_manifests([path])


def test_a_custom_resource_list_is_unpacked_into_custom_resources() -> None:
    items = [yaml.safe_load(manifest("monitoring.coreos.com/v1", "ServiceMonitor", name)) for name in ("a", "b")]
    text = yaml.safe_dump({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitorList", "items": items})
    code, document = report("-", stdin=text)
    assert (code, document["resources"], document["violations"]) == (0, 2, [])
    assert document["unchecked"] == [
        {
            "kind": "ServiceMonitor",
            "apiVersion": "monitoring.coreos.com/v1",
            "count": 2,
            "resources": ["ServiceMonitor/shop/a", "ServiceMonitor/shop/b"],
            "readBy": ["servicemonitor-selects-service"],
        }
    ]
