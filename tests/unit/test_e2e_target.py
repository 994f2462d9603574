"""`azora e2e` without --base-url: the ingress of the embedded real node the stack targets, checked
to answer first; --base-url overrides; any other stack is bad input naming --base-url."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azora.cli import app
from azora.cluster.layout import PORT_NAMES
from azora.commands.e2e import INGRESS_HEALTH, base_url_for, check_ingress
from azora.context import Context
from azora.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _project(tmp_path: Path, node: str | None, ingress_port: int = 41234) -> Path:
    """A clone of the project whose `local` stack targets `.azora/cluster/kubeconfig`, with an
    embedded cluster directory there made with a `node` kind (None: no cluster directory)."""
    root = tmp_path / "clone"
    root.mkdir(parents=True)
    for name in ("Pulumi.yaml", "Pulumi.local.yaml", "Pulumi.staging.yaml"):
        shutil.copy(ROOT / name, root / name)
    if node is not None:
        cluster = root / ".azora" / "cluster"
        cluster.mkdir(parents=True)
        ports = {name: 40000 + index for index, name in enumerate(PORT_NAMES)} | {"ingress": ingress_port}
        (cluster / "cluster.json").write_text(json.dumps({"node": node, "ports": ports}))
        (cluster / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ingress() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server answering the ingress controller's health path with the status in the list."""
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            code = status[0] if self.path == f"/{INGRESS_HEALTH}" else 404
            body = b"ok" if code == 200 else b"not synced yet"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", status
    finally:
        server.shutdown()
        server.server_close()


def test_the_default_is_the_real_nodes_ingress(tmp_path: Path) -> None:
    root = _project(tmp_path, "real", ingress_port=41234)
    assert base_url_for(Context(root), "local", None) == "http://127.0.0.1:41234"


def test_base_url_overrides_the_ingress(tmp_path: Path) -> None:
    root = _project(tmp_path, "real")
    assert base_url_for(Context(root), "local", "https://staging.azora.example/") == "https://staging.azora.example"
    # no stack file needed when the URL is given (reports are only labelled with the stack)
    assert base_url_for(Context(root), "test", "http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    with pytest.raises(BadInput, match="--base-url: not an http"):
        base_url_for(Context(root), "local", "staging.azora.example")


@pytest.mark.parametrize(
    ("node", "stack", "reason"),
    [
        ("simulated", "local", "stack local does not target the embedded cluster's real node"),
        (None, "local", "stack local does not target the embedded cluster's real node"),
        ("real", "staging", "stack staging does not target the embedded cluster's real node"),
        ("real", "test", "stack test: Pulumi.test.yaml not found"),
    ],
)
def test_no_url_to_default_to_is_bad_input_naming_base_url(
    tmp_path: Path, node: str | None, stack: str, reason: str
) -> None:
    root = _project(tmp_path, node)
    with pytest.raises(BadInput) as caught:
        base_url_for(Context(root), stack, None)
    assert reason in str(caught.value) and "pass --base-url URL" in str(caught.value)


def test_the_ingress_must_answer_its_health_endpoint(ingress: tuple[str, list[int]]) -> None:
    url, status = ingress
    check_ingress(url)
    status[0] = 503
    with pytest.raises(BadInput, match=r"does not answer at .*/\.azora/ingress/healthz: HTTP 503 \(not synced yet\)"):
        check_ingress(url)
    closed = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(BadInput, match="(?i)connection refused.*azora cluster status"):
        check_ingress(closed, timeout=2)


def test_the_command_without_base_url(tmp_path: Path) -> None:
    staging = runner.invoke(app, ["-C", str(_project(tmp_path / "a", "real")), "e2e", "-s", "staging"])
    assert staging.exit_code == 2
    assert "pass --base-url URL" in staging.output and "stack staging" in staging.output
    # the stack is on a real node whose ingress is down: said before any browser starts
    port = _free_port()
    down = runner.invoke(app, ["-C", str(_project(tmp_path / "b", "real", port)), "e2e", "-s", "local"])
    assert down.exit_code == 2
    assert f"ingress does not answer at http://127.0.0.1:{port}/.azora/ingress/healthz" in " ".join(down.output.split())
