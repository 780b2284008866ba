"""Benchmark: LaFactura.co webhook into Odoo served with workers.

    .venv/bin/python tests/bench/colombia_webhook.py [--template einvoice_colombia_dev]
        [--deliveries 1000] [--duplicates 0.3] [--concurrency 10] [--workers 2] [--latency 0.0]
        [--db-filter]

What it does:
1. copies a database where l10n_co_lafactura is installed with demo data (`--template`,
   e.g. the one tier 2 built; `--keep` keeps the copy) into a throw-away database;
2. starts the LaFactura.co sandbox on loopback and `odoo-bin --workers N --max-cron-threads 1`
   on that database (`-d` names it; with `--db-filter` a dbfilter too, and then Odoo lists the
   databases, on a new PostgreSQL connection, for every request without a session cookie,
   which is every webhook delivery);
3. points the demo LaFactura connection at the sandbox (JSON-RPC as admin) and reads its
   webhook URL;
4. floods the webhook: `--deliveries` hook deliveries, `--duplicates` of them repeated,
   `--concurrency` in flight, and measures acknowledgements per second and latency
   percentiles (the acknowledgement only stores the delivery);
5. waits for the processor cron (triggered by each delivery) to turn them into bills and
   measures bills per second, then checks: as many bills as distinct documents.

Prints ratios: bills already made when the last acknowledgement came back (shows the
acknowledgement does not wait for bill creation), ack throughput vs the bound
concurrency / p50 latency.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "einvoice_common", "einvoice"))
import runner  # noqa: E402 - the addon folders become importable only through it

runner.register_addon_packages(REPO)
sys.path.pop(0)
import requests  # noqa: E402

from einvoice_common.einvoice.runner import serve  # noqa: E402
from l10n_co_lafactura.lafactura import fixtures, sandbox  # noqa: E402

# odoo-bin without the gevent (long-polling) process: the venv may lack gevent, and the prefork
# server would then respawn it in a loop, eating the CPU the benchmark measures. The webhook
# and the cron do not use long polling.
NO_GEVENT = """
import subprocess
import sys
sys.path.insert(0, sys.argv[1])
del sys.argv[1]
import odoo
from odoo.service import server

def long_polling_spawn(self):
    # A harmless child stands in for the long-polling process (its real pid matters:
    # the server kills that pid when it stops; never use a fake one such as -1).
    self.long_polling_pid = subprocess.Popen(["sleep", "86400"]).pid

server.PreforkServer.long_polling_spawn = long_polling_spawn
odoo.cli.main()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def odoo_config():
    values = {}
    with open(os.path.join(REPO, ".local", "odoo.cfg"), encoding="utf-8") as handle:
        for line in handle:
            if "=" in line and not line.startswith((";", "[")):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def copy_database(cfg, template, target):
    import psycopg2

    conn = psycopg2.connect(
        host=cfg["db_host"],
        port=cfg["db_port"],
        user=cfg["db_user"],
        dbname="postgres",
        password=None if cfg.get("db_password") in (None, "False") else cfg["db_password"],
    )
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute(f'DROP DATABASE IF EXISTS "{target}"')
        cr.execute(f'CREATE DATABASE "{target}" TEMPLATE "{template}"')
    conn.close()
    store = os.path.join(cfg["data_dir"], "filestore")
    if os.path.isdir(os.path.join(store, template)):
        shutil.rmtree(os.path.join(store, target), ignore_errors=True)
        shutil.copytree(os.path.join(store, template), os.path.join(store, target))


def drop_database(cfg, name):
    import psycopg2

    conn = psycopg2.connect(host=cfg["db_host"], port=cfg["db_port"], user=cfg["db_user"], dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()
    shutil.rmtree(os.path.join(cfg["data_dir"], "filestore", name), ignore_errors=True)


class Rpc:
    def __init__(self, url, db, login="admin", password="admin"):
        self.url, self.db = url, db
        self.uid = self.call("common", "login", db, login, password)
        self.password = password
        if not self.uid:
            raise SystemExit("admin/admin cannot log in to the benchmark database")

    def call(self, service, method, *args):
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
        }
        answer = requests.post(self.url + "/jsonrpc", json=payload, timeout=120).json()
        if "error" in answer:
            raise RuntimeError(json.dumps(answer["error"])[:2000])
        return answer["result"]

    def __call__(self, model, method, *args, **kwargs):
        return self.call(
            "object",
            "execute_kw",
            self.db,
            self.uid,
            self.password,
            model,
            method,
            list(args),
            kwargs,
        )


class ScheduledOrder(list):
    """The deliveries in order, knowing how often each document comes."""

    def __init__(self, documents):
        super().__init__(documents)
        self.count_by_cufe = {}
        for document in documents:
            cufe = document["general"]["cufe"]
            self.count_by_cufe[cufe] = self.count_by_cufe.get(cufe, 0) + 1


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="einvoice_colombia_dev")
    parser.add_argument("--db", default="einvoice_colombia_bench")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--duplicates", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="sandbox latency per getDocumentInfo (s)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the bills")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--cron-threads", type=int, default=1, help="0: acknowledgements alone (the bills are then not waited for)"
    )
    parser.add_argument("--db-filter", action="store_true", help="serve with --db-filter=^<db>$ as well as -d")
    args = parser.parse_args()

    cfg = odoo_config()
    odoo_src = os.environ.get("ODOO_SRC", "/root/.cache/einvoice-connectors/odoo-18.0")
    print(f"copying {args.template} -> {args.db}", flush=True)
    copy_database(cfg, args.template, args.db)

    from einvoice_common.einvoice.faults import FaultInjector

    lafactura = sandbox.make_app()
    api = serve(FaultInjector(lafactura, latency=args.latency))
    port = free_port()
    log = open(os.path.join(REPO, ".local", "logs", "bench-colombia-odoo.log"), "w")  # noqa: SIM115
    odoo = subprocess.Popen(
        [
            sys.executable,
            "-c",
            NO_GEVENT,
            odoo_src,
            "-c",
            os.path.join(REPO, ".local", "odoo.cfg"),
            "-d",
            args.db,
            *([f"--db-filter=^{args.db}$"] if args.db_filter else []),
            "--http-interface=127.0.0.1",
            f"--http-port={port}",
            f"--workers={args.workers}",
            f"--max-cron-threads={args.cron_threads}",
            "--log-level=" + os.environ.get("BENCH_LOG_LEVEL", "warn"),
            "--limit-time-real=600",
            "--limit-time-cpu=600",
            "--limit-memory-soft=4294967296",
            "--limit-memory-hard=5368709120",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if requests.get(base + "/web/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("Odoo did not start; see .local/logs/bench-colombia-odoo.log")
        rpc = Rpc(base, args.db)
        credential_ids = rpc("einvoice.credential", "search", [("service", "=", "lafactura")], limit=1)
        if not credential_ids:
            raise SystemExit("no LaFactura connection in the template database (demo data missing?)")
        rpc(
            "einvoice.credential",
            "write",
            credential_ids,
            {"base_url": api.url + "/facturacion.v30/", "max_retries": 1},
        )
        credential = rpc(
            "einvoice.credential",
            "read",
            credential_ids,
            ["l10n_co_lafactura_webhook_url", "company_id"],
        )[0]
        company = rpc("res.company", "read", [credential["company_id"][0]], ["vat"])[0]
        hook_url = base + "/l10n_co_lafactura/hook/" + credential["l10n_co_lafactura_webhook_url"].rsplit("/", 1)[-1]
        before = rpc("account.move", "search_count", [("l10n_co_lafactura_cufe", "!=", False)])

        unique = args.deliveries - round(args.deliveries * args.duplicates)
        documents = fixtures.scenario(unique, seed=11, customer_nit=company["vat"] or fixtures.OUR_NIT)
        for document in documents:
            lafactura.state.add(document)
        order = ScheduledOrder(
            sandbox.schedule(documents, total=args.deliveries, duplicate_rate=args.duplicates, seed=12)
        )
        sender = sandbox.HookSender(hook_url, retries=0, timeout=60)
        print(
            f"flooding {hook_url.rsplit('/', 1)[0]}/… with {len(order)} deliveries "
            f"({len(order) - unique} duplicates), {args.concurrency} at a time",
            flush=True,
        )
        start = time.perf_counter()
        statuses = sender.flood(order, concurrency=args.concurrency)
        flood_seconds = time.perf_counter() - start
        made_at_ack_end = (
            rpc(
                "account.move",
                "search_count",
                [("l10n_co_lafactura_cufe", "!=", False)],
            )
            - before
        )
        latencies = sender.latencies()
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(
            f"acks: {statuses.count(200)}/{len(statuses)} answered 200 in {flood_seconds:.2f}s = "
            f"{len(statuses) / flood_seconds:.1f} acks/s; latency p50 {p50 * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms, "
            f"mean {statistics.mean(latencies) * 1000:.1f} ms"
        )
        repeated = {cufe for cufe in (d["general"]["cufe"] for d in order) if order.count_by_cufe[cufe] > 1}
        for label, wanted in (("delivered once", False), ("delivered more than once", True)):
            subset = sorted(r[3] for r in sender.results if (r[0] in repeated) == wanted)
            if subset:
                print(
                    f"  documents {label}: {len(subset)} deliveries, p50 {percentile(subset, 0.5) * 1000:.1f} ms, "
                    f"p99 {percentile(subset, 0.99) * 1000:.1f} ms"
                )
        bound = args.concurrency / p50 if p50 else float("inf")
        print(f"ack throughput / (concurrency / p50) = {len(statuses) / flood_seconds / bound:.2f}")
        print(
            f"bills made when the last ack came back: {made_at_ack_end}/{unique} "
            f"({made_at_ack_end / unique:.0%}): the acknowledgement does not wait for the bill"
        )

        deadline = time.perf_counter() + (args.timeout if args.cron_threads else 0)
        while time.perf_counter() < deadline:
            pending = rpc("l10n_co_lafactura.inbox", "search_count", [("state", "=", "received")])
            retry = rpc(
                "l10n_co_lafactura.inbox",
                "search_count",
                [("state", "=", "error"), ("reason_code", "=", "original_unknown")],
            )
            if not pending and not retry:
                break
            if not pending and retry:
                ids = rpc(
                    "l10n_co_lafactura.inbox",
                    "search",
                    [("state", "=", "error"), ("reason_code", "=", "original_unknown")],
                )
                rpc(
                    "l10n_co_lafactura.inbox",
                    "action_l10n_co_lafactura_process_again",
                    ids,
                )
            time.sleep(0.5)
        total_seconds = time.perf_counter() - start
        made = (
            rpc(
                "account.move",
                "search_count",
                [("l10n_co_lafactura_cufe", "!=", False)],
            )
            - before
        )
        groups = rpc("l10n_co_lafactura.inbox", "read_group", [], ["state"], ["state"])
        states = {g["state"]: g["state_count"] for g in groups}
        rows = rpc("l10n_co_lafactura.inbox", "search_read", [], ["delivery_count"])
        deliveries_stored = sum(r["delivery_count"] for r in rows)
        print(
            f"bills: {made} made for {unique} distinct documents in {total_seconds:.1f}s since the first "
            f"delivery = {made / total_seconds:.1f} bills/s (workers={args.workers}, 1 cron thread, "
            f"sandbox latency {args.latency * 1000:.0f} ms)"
        )
        print(f"inbox states: {states}; deliveries counted: {deliveries_stored}")
        odd = rpc(
            "l10n_co_lafactura.inbox",
            "search_read",
            [("state", "not in", ("processed", "duplicate"))],
            ["state", "reason"],
            limit=5,
        )
        for row in odd:
            print(f"  {row['state']}: {row['reason']}")
        ok = (made == unique or not args.cron_threads) and statuses.count(200) == len(statuses)
        print("RESULT:", "OK" if ok else "MISMATCH")
        return 0 if ok else 1
    finally:
        os.killpg(odoo.pid, signal.SIGTERM)
        try:
            odoo.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(odoo.pid, signal.SIGKILL)
        api.stop()
        log.close()
        if not args.keep:
            time.sleep(1)
            drop_database(cfg, args.db)


if __name__ == "__main__":
    sys.exit(main())
