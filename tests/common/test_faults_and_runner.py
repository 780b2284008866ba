import json
import os
import subprocess
import sys

import pytest
import requests

from einvoice_common.einvoice.demo_sandbox import make_app
from einvoice_common.einvoice.faults import FaultInjector

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_scripted_faults_match_path_and_method_and_are_consumed(serve_app):
    faults = FaultInjector(make_app())
    server = serve_app(faults)
    faults.inject("status", status=502, path="/documents", method="GET")
    assert requests.post(server.url + "/oauth/token", timeout=5).status_code == 401  # untouched
    assert requests.get(server.url + "/documents", timeout=5).status_code == 502
    assert requests.get(server.url + "/documents", timeout=5).status_code == 401  # consumed
    assert faults.faults_served == ["status"]


def test_rate_limit_answers_429_past_the_budget(serve_app):
    faults = FaultInjector(make_app(), rate_limit_per_minute=3)
    server = serve_app(faults)
    codes = [requests.get(server.url + "/documents", timeout=5).status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_error_rate_is_reproducible_with_a_seed(serve_app):
    def run():
        faults = FaultInjector(make_app(), error_rate=0.5, seed=7)
        server = serve_app(faults)
        return [requests.get(server.url + "/documents", timeout=5).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert 503 in first and 401 in first


def test_sandboxes_only_listen_on_loopback():
    from einvoice_common.einvoice.runner import Server

    with pytest.raises(ValueError):
        Server(make_app(), host="0.0.0.0")


def test_process_mode_serves_the_configured_sandboxes(tmp_path):
    port = _free_port()
    config = tmp_path / "sandboxes.json"
    factory = "einvoice_common.einvoice.demo_sandbox:make_app"
    config.write_text(json.dumps({"sandboxes": [{"name": "demo", "factory": factory, "port": port}]}))
    runner = os.path.join(REPO, "einvoice_common", "einvoice", "runner.py")
    process = subprocess.Popen(
        [sys.executable, runner, "serve-all", "--config", str(config)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.strip() == f"sandbox demo: http://127.0.0.1:{port}"
        assert requests.get(f"http://127.0.0.1:{port}/documents", timeout=5).status_code == 401
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode == 0


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
