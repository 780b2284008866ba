"""Tier 1, protocol level at full volume: 1,000 hook deliveries with 30% duplicates,
10 at a time, into a reference receiver built from the pure package (the same delivery
check and bill plan the Odoo controller and processor use), confirmed against the
sandbox with getDocumentInfo: exactly the unique documents become bills, credit and
debit notes linked to their originals.
"""

import hmac
import threading
from concurrent.futures import ThreadPoolExecutor

from einvoice_common.einvoice.transport import BasicAuth, Transport
from l10n_co_lafactura.lafactura import client as lf_client
from l10n_co_lafactura.lafactura import documents as d
from l10n_co_lafactura.lafactura import fixtures as f
from l10n_co_lafactura.lafactura import sandbox

SECRET = "s3cret-" + "x" * 40
TABLE = d.TaxTable([("01", 19, "iva19"), ("01", 5, "iva5"), ("01", 0, "iva0")])


class Receiver:
    """WSGI webhook: secret in the path, delivery check, store, answer at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inbox = []  # dicts: state, keys, body, sha256

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        secret = path.rsplit("/", 1)[-1]
        if not hmac.compare_digest(secret.encode(), SECRET.encode()):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "not found"}']
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(min(length, 1024 * 1024 + 1))
        result = d.inspect_delivery(
            environ["REQUEST_METHOD"],
            environ.get("CONTENT_TYPE"),
            body,
            max_bytes=1024 * 1024,
            content_length=length,
        )
        if result.state:
            with self.lock:
                duplicate = any(r["keys"].get("cufe") == result.keys.get("cufe") for r in self.inbox if result.keys)
                self.inbox.append(
                    {
                        "state": result.state,
                        "keys": result.keys,
                        "body": body,
                        "dup": duplicate,
                        "reason": result.reason,
                    }
                )
        start_response(f"{result.http_status} X", [("Content-Type", "application/json")])
        return [b'{"ok": true}' if result.http_status == 200 else b'{"ok": false}']


class Books:
    """In-memory processor: one bill per CUFE under a per-CUFE lock."""

    def __init__(self, client):
        self.client = client
        self.lock = threading.Lock()
        self.cufe_locks = {}
        self.bills = {}  # cufe -> bill dict
        self.states = []

    def _lock(self, cufe):
        with self.lock:
            return self.cufe_locks.setdefault(cufe, threading.Lock())

    def process(self, row):
        hook = d.hook_document(d.load_json(row["body"]))
        with self._lock(hook.cufe):
            if hook.cufe in self.bills:
                row["state"] = "duplicate"
                return
            info = self.client.get_document_info(hook.cufe)
            try:
                p = d.plan(hook, info, company_nit="900373044-9", tax_table=TABLE)
            except d.Refusal as refusal:
                row["state"] = refusal.state
                return
            origin = None
            if p.reference_cufe:
                origin = self.bills.get(p.reference_cufe)
                if origin is None:
                    row["state"] = "waiting"  # original not booked yet: processed again later
                    return
            self.bills[hook.cufe] = {
                "type": p.move_type,
                "kind": p.kind,
                "origin": origin and origin["cufe"],
                "cufe": hook.cufe,
                "lines": len(p.lines),
                "diff": p.total_differences,
            }
            row["state"] = "processed"


def test_thousand_deliveries_thirty_percent_duplicates(serve_app):
    lafactura = sandbox.make_app()
    api = serve_app(lafactura)
    documents = f.scenario(700, seed=3)
    for document in documents:
        lafactura.state.add(document)
    receiver = Receiver()
    hook = serve_app(receiver)
    order = sandbox.schedule(documents, total=1000, duplicate_rate=0.3, seed=4)
    sender = sandbox.HookSender(f"{hook.url}/lafactura/hook/{SECRET}")
    statuses = sender.flood(order, concurrency=10)
    assert statuses == [200] * 1000
    assert len(receiver.inbox) == 1000 and all(r["state"] == "received" for r in receiver.inbox)
    assert sum(r["dup"] for r in receiver.inbox) == 300

    transport = Transport(
        api.url + "/facturacion.v30/",
        service="lafactura",
        auth=BasicAuth(*next(iter(sandbox.DEFAULT_USERS.items()))),
    )
    books = Books(lf_client.LaFacturaClient(transport))
    pending = list(receiver.inbox)
    for _ in range(5):  # notes whose original was not booked yet wait for the next run
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(books.process, pending))
        pending = [r for r in pending if r["state"] == "waiting"]
        if not pending:
            break
    assert not pending
    states = [r["state"] for r in receiver.inbox]
    assert states.count("processed") == 700 and states.count("duplicate") == 300
    assert set(books.bills) == {doc["general"]["cufe"] for doc in documents}
    kinds = {doc["general"]["cufe"]: doc["general"]["type"] for doc in documents}
    for cufe, bill in books.bills.items():
        assert bill["kind"] == kinds[cufe] and not bill["diff"]
        if bill["kind"] == "fc":
            assert bill["origin"] is None and bill["type"] == "in_invoice"
        else:
            assert kinds[bill["origin"]] == "fc"
            assert bill["type"] == ("in_refund" if bill["kind"] == "nc" else "in_invoice")
    assert {b["kind"] for b in books.bills.values()} == {"fc", "nc", "nd"}


def test_bad_deliveries_answered_and_recorded(serve_app):
    receiver = Receiver()
    hook = serve_app(receiver)
    url = f"{hook.url}/lafactura/hook/{SECRET}"
    sender = sandbox.HookSender(url)
    json_headers = {"Content-Type": "application/json"}
    wrong = sandbox.HookSender(f"{hook.url}/lafactura/hook/{'y' * 47}")
    assert wrong.deliver(f.make_document()) == 404
    assert receiver.inbox == []
    import requests

    assert requests.get(url).status_code == 405
    assert sender.post(b"{}", headers={"Content-Type": "text/plain"})[0] == 415
    assert sender.post(b"x" * (1024 * 1024 + 10), headers=json_headers)[0] == 413
    assert receiver.inbox == []
    assert sender.post(b"", headers=json_headers)[0] == 400
    assert sender.post(b"{bad", headers=json_headers)[0] == 400
    assert [(r["state"], bool(r["reason"])) for r in receiver.inbox] == [("rejected", True)] * 2
