"""Sandboxes keep their state across restarts of setup/run (einvoice_common/einvoice/persist.py)."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import requests

from einvoice_common.einvoice import persist
from einvoice_common.einvoice.demo_sandbox import make_app as make_demo
from einvoice_common.einvoice.faults import FaultInjector
from einvoice_common.einvoice.runner import load_factory

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACTURE = "l10n_mx_factureapp.factureapp.sandbox:make_app"
FACTORIES = [
    "einvoice_common.einvoice.demo_sandbox:make_app",
    "l10n_efact_aoc.efact.sandbox:make_app",
    "l10n_mx_factureapp.factureapp.sandbox:make_app",
    "l10n_ro_anaf_efactura.anaf.sandbox:make_app",
    "l10n_co_lafactura.lafactura.sandbox:make_app",
]


def _token(url):
    answer = requests.post(
        url + "/oauth/token",
        data={"grant_type": "authorization_code", "code": "good-code"},
        auth=("client", "secret"),
        timeout=5,
    )
    return {"Authorization": "Bearer " + answer.json()["access_token"]}


def test_a_stamp_made_before_a_restart_is_found_by_the_sat_check_after_it(tmp_path, serve_app):
    from l10n_mx_factureapp.factureapp import documents as doc  # noqa: PLC0415 - Mexico only here
    from l10n_mx_factureapp.factureapp import sat  # noqa: PLC0415
    from tests.mexico.mx_common import CUSTOMER, Facture, invoice  # noqa: PLC0415

    factory = load_factory(FACTURE)
    before = FaultInjector(factory())
    facture = Facture(before.app, serve_app(before), before)
    stamped = facture.client.stamp(doc.build_invoice(invoice(number="77")), branch=1)
    credits = before.app.credits
    path = str(tmp_path / "factureapp.pickle")
    persist.write(path, persist.dump(before))

    after = FaultInjector(factory())
    assert persist.load(after, path)
    facture = Facture(after.app, serve_app(after), after)
    sat_check = sat.SatStatusClient(facture.transport, endpoint=facture.server.url + "/ConsultaCFDIService.svc")
    assert sat_check.status(stamped.uuid, "EKU9003173C9", CUSTOMER.rfc, "3480.00").state == "Vigente"
    assert facture.client.xml(stamped.uuid) == stamped.xml
    assert after.app.credits == credits


def test_tokens_documents_and_counters_survive(tmp_path, serve_app):
    before = FaultInjector(make_demo())
    url = serve_app(before).url
    headers = _token(url)
    first = requests.post(url + "/documents", json={"reference": "INV/1"}, headers=headers, timeout=5).json()
    path = str(tmp_path / "demo.pickle")
    persist.write(path, persist.dump(before))

    after = FaultInjector(make_demo())
    assert persist.load(after, path)
    url = serve_app(after).url
    found = requests.get(url + "/documents", params={"reference": "INV/1"}, headers=headers, timeout=5)
    assert found.status_code == 200 and found.json() == [first]  # the old token still works
    assert _token(url) != headers  # the token counter went on: no token is issued twice


@pytest.mark.parametrize("factory", FACTORIES)
def test_every_sandbox_state_round_trips(tmp_path, factory):
    app = FaultInjector(load_factory(factory)())
    path = str(tmp_path / "state.pickle")
    persist.write(path, persist.dump(app))
    again = FaultInjector(load_factory(factory)())
    assert persist.load(again, path)
    assert persist.dump(again) == persist.dump(app)


def test_an_unreadable_file_is_set_aside_and_the_sandbox_starts_empty(tmp_path):
    path = tmp_path / "demo.pickle"
    path.write_bytes(b"not a pickle")
    app = FaultInjector(make_demo())
    assert not persist.load(app, str(path))
    assert (tmp_path / "demo.pickle.unreadable").exists() and not path.exists()
    assert app.app.documents == []


def _serve_all(config_path):
    process = subprocess.Popen(
        [
            sys.executable,
            os.path.join(REPO, "einvoice_common/einvoice/runner.py"),
            "serve-all",
            "--config",
            config_path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()  # "sandbox demo: http://127.0.0.1:PORT (...)" once it listens
    return process, line


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_runner_saves_at_stop_and_restores_at_start(tmp_path):
    port = _free_port()
    state_file = str(tmp_path / "state" / "demo.pickle")
    config = tmp_path / "sandboxes.json"
    entry = {"name": "demo", "factory": FACTORIES[0], "port": port, "state_file": state_file}
    config.write_text(json.dumps({"sandboxes": [entry]}))
    url = f"http://127.0.0.1:{port}"

    process, line = _serve_all(str(config))
    try:
        assert line.strip().endswith("(new state)"), line
        headers = _token(url)
        requests.post(url + "/documents", json={"reference": "R1"}, headers=headers, timeout=5).raise_for_status()
    finally:
        process.send_signal(signal.SIGTERM)  # how setup/run stops it
        assert process.wait(10) == 0
    assert os.path.exists(state_file)

    process, line = _serve_all(str(config))
    try:
        assert line.strip().endswith("(state restored)"), line
        found = requests.get(url + "/documents", params={"reference": "R1"}, headers=headers, timeout=5)
        assert [d["reference"] for d in found.json()] == ["R1"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
