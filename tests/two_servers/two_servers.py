"""Two Odoo servers on one database, crons on, the same work queued on both: count at the sandboxes.

    tests/two_servers/run [--count 20] [--timeout 600]      (the wrapper makes the database)

What it does:
1. serves the ANAF, Facture APP, eFACT and LaFactura sandboxes on loopback (in this process, so it can
   count what reached them);
2. starts `odoo-bin` twice on ONE database (distinct ports, `--max-cron-threads=1` each);
3. through the servers only (JSON-RPC as admin, and ANAF's Authenticate over HTTP): points the demo
   connections at the sandboxes, makes `count` posted invoices per sending service from the demo ones,
   seeds `count` Facturae for the eFACT RCF side and `count` LaFactura documents;
4. queues the same work on both servers at the same moment: each server is asked to send the same
   invoices (ANAF, Facture APP, eFACT), each LaFactura document is delivered to the webhook of both
   servers, and both servers' crons pull eFACT;
5. waits until every document reaches its final state, read from public fields (`account.move` and the
   inboxes), while the crons of both servers run;
6. counts at the sandboxes: duplicates (a document that reached the service more than once), lost
   (a document that never reached its final state) and crashes (ERROR / CRITICAL / Traceback lines in
   either server's log), prints the numbers and exits 1 unless all are 0.

It does not depend on how an addon sends (its attempt model or its cron): only on the public action of
the Send buttons, the move's state field and the sandboxes' own records.
"""

import argparse
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "einvoice_common", "einvoice"))
import runner  # noqa: E402 - the addon folders become importable only through it

runner.register_addon_packages(REPO)
sys.path.pop(0)

import requests  # noqa: E402

from einvoice_common.einvoice.faults import FaultInjector  # noqa: E402
from einvoice_common.einvoice.runner import serve  # noqa: E402

BAD_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (ERROR|CRITICAL) |^Traceback ")
RCF_NIF = "ESP0800001J"  # a public body the eFACT sandbox's RCF user serves


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Rpc:
    """JSON-RPC to one server as admin; `context` carries the company of the work."""

    def __init__(self, url, db):
        self.url, self.db = url, db
        self.uid = self.call("common", "login", db, "admin", "admin")
        if not self.uid:
            raise SystemExit("admin/admin cannot log in")

    def call(self, service, method, *args):
        payload = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args}}
        answer = requests.post(self.url + "/jsonrpc", json=payload, timeout=600).json()
        if "error" in answer:
            raise RpcError(answer["error"].get("data", {}).get("message") or json.dumps(answer["error"])[:500])
        return answer["result"]

    def __call__(self, model, method, *args, **kwargs):
        return self.call("object", "execute_kw", self.db, self.uid, "admin", model, method, list(args), kwargs)


class RpcError(Exception):
    pass


class Server:
    def __init__(self, name, args, log_dir):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(log_dir, f"two-servers-{name}.log")
        if os.path.exists(self.log):
            os.remove(self.log)  # this run's lines only
        command = [
            args.python,
            os.path.join(args.odoo, "odoo-bin"),
            "-c",
            args.config,
            "-d",
            args.db,
            f"--db-filter=^{args.db}$",
            "--http-interface=127.0.0.1",
            f"--http-port={self.port}",
            "--workers=0",
            "--max-cron-threads=1",
            f"--logfile={self.log}",
        ]
        self.process = subprocess.Popen(command, start_new_session=True)  # noqa: S603 - our own odoo-bin

    def wait_ready(self):
        for _ in range(240):
            if self.process.poll() is not None:
                raise SystemExit(f"server {self.name} exited; see {self.log}")
            try:
                if requests.get(self.url + "/web/health", timeout=2).status_code == 200:
                    return Rpc(self.url, DB)
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise SystemExit(f"server {self.name} did not start; see {self.log}")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)

    def bad_lines(self):
        with open(self.log, encoding="utf-8", errors="replace") as handle:
            return [line.rstrip() for line in handle if BAD_LINE.match(line)]


DB = None


# ----------------------------------------------------------------------------- sandboxes
class Sandboxes:
    def __init__(self):
        from l10n_co_lafactura.lafactura import sandbox as lafactura
        from l10n_efact_aoc.efact import sandbox as efact
        from l10n_mx_factureapp.factureapp import sandbox as factureapp
        from l10n_ro_anaf_efactura.anaf import sandbox as anaf

        self.anaf = anaf.make_app(decision="approve")  # the certificate holder approves on ANAF's page
        self.factureapp = factureapp.make_app()
        self.efact = efact.make_app()
        self.lafactura = lafactura.make_app()
        self.servers = {
            name: serve(FaultInjector(getattr(self, name))) for name in ("anaf", "factureapp", "efact", "lafactura")
        }

    def url(self, name):
        return self.servers[name].url

    def stop(self):
        for server in self.servers.values():
            server.stop()


# ----------------------------------------------------------------------------- setup through server A
def point_connections_at_sandboxes(rpc, boxes):
    for service in ("anaf", "factureapp", "efact", "lafactura"):
        rpc("ir.config_parameter", "set_param", f"einvoice.sandbox_url.{service}", boxes.url(service))
        ids = rpc("einvoice.credential", "search", [("service", "=", service), ("environment", "=", "sandbox")])
        suffix = {"lafactura": "/facturacion.v30/", "anaf": "/test/FCTEL/rest"}.get(service, "")
        rpc("einvoice.credential", "write", ids, {"base_url": boxes.url(service) + suffix})


def authenticate_anaf(server_url, rpc):
    """The administrator's Authenticate round trip, over HTTP: Odoo → ANAF (approves) → Odoo's callback."""
    (credential_id,) = rpc("einvoice.credential", "search", [("service", "=", "anaf")], limit=1)
    session = requests.Session()
    login = session.post(
        server_url + "/web/session/authenticate",
        json={"jsonrpc": "2.0", "params": {"db": DB, "login": "admin", "password": "admin"}},
        timeout=60,
    )
    login.raise_for_status()
    to_anaf = session.get(f"{server_url}/l10n_ro_anaf_efactura/authorize/{credential_id}", allow_redirects=False)
    back = session.get(to_anaf.headers["Location"], allow_redirects=False, timeout=30)
    callback = urlsplit(back.headers["Location"])
    session.get(f"{server_url}{callback.path}?{callback.query}", allow_redirects=False, timeout=60)
    (state,) = rpc("einvoice.credential", "read", [credential_id], ["state"])
    if state["state"] != "connected":
        raise SystemExit(f"ANAF Authenticate failed: {state}")


def posted_copies(rpc, company_xmlid, partner_xmlid, count):
    """`count` posted invoices copied from the company's first demo invoice to the partner."""
    company_id = rpc("ir.model.data", "check_object_reference", *company_xmlid.split("."))[1]
    partner_id = rpc("ir.model.data", "check_object_reference", *partner_xmlid.split("."))[1]
    context = {"allowed_company_ids": [company_id]}
    template = rpc(
        "account.move",
        "search",
        [("company_id", "=", company_id), ("partner_id", "=", partner_id), ("move_type", "=", "out_invoice")],
        limit=1,
        order="id",
        context=context,
    )
    if not template:
        raise SystemExit(f"no demo invoice of {company_xmlid} to {partner_xmlid}")
    ids = [rpc("account.move", "copy", template, context=context)[0] for _ in range(count)]
    rpc("account.move", "action_post", ids, context=context)
    return ids, context


def seed_inbound(rpc, boxes, count):
    """eFACT RCF: `count` Facturae waiting for the ES demo company; LaFactura: `count` documents."""
    from l10n_co_lafactura.lafactura import fixtures

    es_company = rpc("ir.model.data", "check_object_reference", "base", "demo_company_es")[1]
    rpc("res.company", "write", [es_company], {"vat": RCF_NIF})
    rpc(
        "einvoice.credential",
        "create",
        {
            "name": "eFACT RCF (two servers)",
            "service": "efact",
            "environment": "sandbox",
            "base_url": boxes.url("efact"),
            "company_id": es_company,
            "company_ids": [(6, 0, [es_company])],
            "username": "rcf-demo",
            "secret_key": "sandbox-secret",
            "l10n_efact_aoc_role_rcf": True,
            "l10n_efact_aoc_role_supplier": False,
        },
    )
    hub_ids = [
        boxes.efact.state.seed_invoice(nif=RCF_NIF, number=f"TS-{n:04d}", lines=[("Servei", 2, 50.0, 21.0)])
        for n in range(count)
    ]
    (credential,) = rpc(
        "einvoice.credential",
        "search_read",
        [("service", "=", "lafactura")],
        ["l10n_co_lafactura_webhook_url", "company_id"],
        limit=1,
    )
    (company,) = rpc("res.company", "read", [credential["company_id"][0]], ["vat"])
    documents = fixtures.scenario(count, seed=21, customer_nit=company["vat"] or fixtures.OUR_NIT)
    for document in documents:
        boxes.lafactura.state.add(document)
    secret = credential["l10n_co_lafactura_webhook_url"].rsplit("/", 1)[-1]
    return hub_ids, documents, secret


# ----------------------------------------------------------------------------- the same work on both
ADDONS = ["einvoice_common", "l10n_ro_anaf_efactura", "l10n_mx_factureapp", "l10n_efact_aoc", "l10n_co_lafactura"]


def at_once(calls):
    """Run the callables at the same moment (one thread each); returns their results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - a refusal is a result here, counted by the caller
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


class Crons:
    """Wakes the crons of both servers: due triggers plus PostgreSQL's NOTIFY, as Odoo's `_trigger` does."""

    def __init__(self, rpc, config):
        self.rpc = rpc
        # every cron of the addons, whatever they are called: the harness does not know their internals
        rows = rpc("ir.model.data", "search_read", [("model", "=", "ir.cron"), ("module", "in", ADDONS)], ["res_id"])
        self.ids = [row["res_id"] for row in rows]
        rpc("ir.cron", "write", self.ids, {"active": True, "interval_number": 1, "interval_type": "minutes"})
        self.config = config

    def _connect(self, dbname):
        import psycopg2  # noqa: PLC0415 - from Odoo's virtualenv

        options = self.config
        connection = psycopg2.connect(
            host=options.get("db_host") or None,
            port=options.get("db_port") or None,
            user=options.get("db_user") or None,
            password=None if options.get("db_password") in (None, "", "False") else options["db_password"],
            dbname=dbname,
        )
        connection.autocommit = True
        return connection

    def hurry(self):
        """Time passes: every due date of the attempts (einvoice.attempt's `next_check`) is now.

        The services' own waits (ANAF's processing, backoff) are minutes long; the harness does not
        wait for them, it moves them, as the tests' time travel does.
        """
        connection = self._connect(DB)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name = 'next_check' AND table_name NOT LIKE 'ir\\_%'"
            )
            for (table,) in cursor.fetchall():
                cursor.execute(
                    f"UPDATE \"{table}\" SET next_check = (now() at time zone 'utc') - interval '1 second' "
                    "WHERE next_check > (now() at time zone 'utc')"
                )
        connection.close()

    def wake(self):
        self.hurry()
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        self.rpc("ir.cron.trigger", "create", [{"cron_id": cron_id, "call_at": now} for cron_id in self.ids])
        connection = self._connect("postgres")
        with connection.cursor() as cursor:
            cursor.execute("NOTIFY cron_trigger, %s", [DB])
        connection.close()


def send_on_both(rpcs, work):
    """Each server is asked, at the same moment, to send the same invoices of every service."""
    calls = []
    for rpc in rpcs:
        for method, (ids, context) in work.items():
            calls.append(
                lambda rpc=rpc, method=method, ids=ids, context=context: rpc(
                    "account.move", method, ids, context=context
                )
            )
    results = at_once(calls)
    return [str(r) for r in results if isinstance(r, Exception)]


def deliver_to_both(servers, documents, secret):
    """Every LaFactura document is delivered to the webhook of both servers, both at once."""
    from l10n_co_lafactura.lafactura import sandbox as lafactura  # noqa: PLC0415

    senders = [lafactura.HookSender(f"{s.url}/l10n_co_lafactura/hook/{secret}", retries=3, timeout=60) for s in servers]
    results = at_once([lambda sender=sender: sender.flood(documents, concurrency=4) for sender in senders])
    return [status for statuses in results for status in (statuses if isinstance(statuses, list) else [statuses])]


# ----------------------------------------------------------------------------- final states and counts
FINAL = {  # the move's state field and the states after which nothing is sent any more
    "action_l10n_ro_anaf_efactura_send": ("l10n_ro_anaf_efactura_state", {"ok"}),
    "action_l10n_mx_factureapp_stamp": ("l10n_mx_factureapp_state", {"stamped"}),
    # registered at the hub, then whatever the public body does with it
    "action_l10n_efact_aoc_send": (
        "l10n_efact_aoc_state",
        {"registered", "delivered", "annotated", "received", "accepted", "recognised", "paid"},
    ),
}


def unfinished(rpc, work, hub_ids, cufes):
    """What has not reached its final state yet, per flow."""
    left = {}
    for method, (ids, context) in work.items():
        field, final = FINAL[method]
        rows = rpc("account.move", "read", ids, [field], context=context)
        left[method] = [r["id"] for r in rows if r[field] not in final]
    bills = rpc("l10n_efact_aoc.inbox", "search_read", [("hub_id", "in", hub_ids)], ["hub_id", "move_id"])
    left["efact_in"] = sorted(set(hub_ids) - {r["hub_id"] for r in bills if r["move_id"]})
    moves = rpc("account.move", "search_read", [("l10n_co_lafactura_cufe", "in", cufes)], ["l10n_co_lafactura_cufe"])
    left["lafactura"] = sorted(set(cufes) - {m["l10n_co_lafactura_cufe"] for m in moves})
    return left


def duplicates(counter):
    return sum(n - 1 for n in counter.values() if n > 1)


def count_at_sandboxes(rpc, boxes, work, hub_ids, cufes):
    """Per flow: (documents, reached the service, duplicates)."""
    names = {}
    for method, (ids, context) in work.items():
        names[method] = {r["name"] for r in rpc("account.move", "read", ids, ["name"], context=context)}
    anaf = collections.Counter(u.number for u in boxes.anaf.state.uploads.values())
    anaf = {k: v for k, v in anaf.items() if k in names["action_l10n_ro_anaf_efactura_send"]}
    mexico = collections.Counter()
    for record in boxes.factureapp.cfdis.values():
        xml = getattr(record, "xml", b"")
        xml = xml.decode() if isinstance(xml, bytes) else xml or ""
        folio = re.search(r'Folio="([^"]*)"', xml)
        serie = re.search(r'Serie="([^"]*)"', xml)
        mexico[(serie.group(1) if serie else "") + (folio.group(1) if folio else "")] += 1
    efact_out = collections.Counter(
        (inv["supplier_nif"], inv["serie"], inv["numero"])
        for inv in boxes.efact.state.invoices.values()
        if inv["id"] not in hub_ids
    )
    bills_per_hub = collections.Counter(
        r["hub_id"] for r in rpc("l10n_efact_aoc.inbox", "search_read", [("hub_id", "in", hub_ids)], ["hub_id"])
    )
    bills_per_cufe = collections.Counter(
        m["l10n_co_lafactura_cufe"]
        for m in rpc(
            "account.move", "search_read", [("l10n_co_lafactura_cufe", "in", cufes)], ["l10n_co_lafactura_cufe"]
        )
    )
    return {
        "ANAF upload": (len(names["action_l10n_ro_anaf_efactura_send"]), len(anaf), duplicates(anaf)),
        "Facture APP stamp": (
            len(work["action_l10n_mx_factureapp_stamp"][0]),
            sum(mexico.values()),
            duplicates(mexico),
        ),
        "eFACT send": (len(work["action_l10n_efact_aoc_send"][0]), sum(efact_out.values()), duplicates(efact_out)),
        "eFACT receive (DELIVERED at the hub)": (
            len(hub_ids),
            sum(1 for h in hub_ids if boxes.efact.state.deliveries.get(h)),
            duplicates(collections.Counter({h: boxes.efact.state.deliveries.get(h, 0) for h in hub_ids}))
            + duplicates(bills_per_hub),
        ),
        "LaFactura webhook (bills)": (len(cufes), sum(bills_per_cufe.values()), duplicates(bills_per_cufe)),
    }


def odoo_config(path):
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if "=" in line and not line.startswith((";", "[")):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def wait_final(rpc, crons, work, hub_ids, cufes, timeout):
    deadline = time.monotonic() + timeout
    left = unfinished(rpc, work, hub_ids, cufes)
    shown = None
    while any(left.values()) and time.monotonic() < deadline:
        crons.wake()
        time.sleep(5)
        left = unfinished(rpc, work, hub_ids, cufes)
        counts = {k: len(v) for k, v in left.items() if v}
        if counts != shown:
            print("  still to reach their final state:", counts or "none", flush=True)
            shown = counts
    return left


def main():
    global DB
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--odoo", required=True, help="Odoo source folder (with odoo-bin)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--count", type=int, default=20, help="documents per flow")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to reach the final states")
    args = parser.parse_args()
    DB = args.db
    log_dir = os.path.join(REPO, ".local", "logs")
    os.makedirs(log_dir, exist_ok=True)
    boxes = Sandboxes()
    servers = [Server("a", args, log_dir), Server("b", args, log_dir)]
    started = time.monotonic()
    try:
        rpcs = [server.wait_ready() for server in servers]
        rpc = rpcs[0]
        print(f"two servers on {DB}: {servers[0].url} and {servers[1].url}; logs {servers[0].log}, {servers[1].log}")
        point_connections_at_sandboxes(rpc, boxes)
        authenticate_anaf(servers[0].url, rpc)
        crons = Crons(rpc, odoo_config(args.config))
        work = {
            "action_l10n_ro_anaf_efactura_send": posted_copies(
                rpc, "base.demo_company_ro", "l10n_ro_anaf_efactura.demo_partner_buyer", args.count
            ),
            "action_l10n_mx_factureapp_stamp": posted_copies(
                rpc, "base.demo_company_mx", "l10n_mx_factureapp.demo_partner_ure", args.count
            ),
            "action_l10n_efact_aoc_send": posted_copies(
                rpc, "base.demo_company_es", "l10n_efact_aoc.demo_partner_public_body", args.count
            ),
        }
        hub_ids, documents, secret = seed_inbound(rpc, boxes, args.count)
        cufes = [d["general"]["cufe"] for d in documents]
        print(f"queued on both servers at once: {args.count} documents per flow", flush=True)
        crons.wake()
        refusals = send_on_both(rpcs, work)
        statuses = deliver_to_both(servers, documents, secret)
        left = wait_final(rpc, crons, work, hub_ids, cufes, args.timeout)
        counts = count_at_sandboxes(rpc, boxes, work, hub_ids, cufes)
    finally:
        for server in servers:
            server.stop()
        boxes.stop()
    return report(servers, counts, left, statuses, refusals, time.monotonic() - started)


def report(servers, counts, left, statuses, refusals, seconds):
    """Print the numbers; 0 when there is no duplicate, no crash and nothing lost."""
    crashes = {server.name: server.bad_lines() for server in servers}
    lost = sum(len(v) for v in left.values())
    dups = sum(d for _n, _r, d in counts.values())
    print(f"\n== two Odoo servers, one database ({seconds:.0f} s) ==")
    print(f"{'flow':40} {'documents':>9} {'reached':>8} {'duplicates':>10} {'lost':>5}")
    lost_by_flow = dict(zip(counts, [len(v) for v in left.values()], strict=False))
    for flow, (n, reached, dup) in counts.items():
        print(f"{flow:40} {n:>9} {reached:>8} {dup:>10} {lost_by_flow.get(flow, 0):>5}")
    print(f"webhook answers: {collections.Counter(statuses)}; refusals of the second Send: {len(refusals)}")
    for text in sorted(set(refusals))[:5]:
        print(f"  refused: {text[:200]}")
    for name, lines in crashes.items():
        print(f"server {name}: {len(lines)} ERROR/CRITICAL/Traceback lines")
        for line in lines[:5]:
            print(f"  {line[:240]}")
    total_crashes = sum(len(v) for v in crashes.values())
    print(f"TOTAL: duplicates {dups}, crashes {total_crashes}, lost {lost}")
    return 0 if not (dups or total_crashes or lost) else 1


if __name__ == "__main__":
    sys.exit(main())
