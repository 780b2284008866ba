"""Benchmark: eFACT RCF pull into Odoo vendor bills against the sandbox with network latency.

    .venv/bin/python tests/bench/efact_rcf_pull.py --db einvoice_bench_efact [--count 1200] [--latency 0.05]

Needs a database with l10n_efact_aoc and its demo data: a copy of setup/test's tier-2 database (setup/test
drops and recreates that one when addons change, which kills a benchmark running on it), e.g.
`CREATE DATABASE einvoice_bench_efact TEMPLATE einvoice_test_efact`. Everything runs in
one transaction that is rolled back at the end (the per-bill commits of the cron are skipped: they are
not what is measured). Prints bills per second, the time spent in Odoo's Facturae import (bill creation)
versus HTTP transport (every call to the hub, latency included) and their ratio, and the time spent
storing each raw delivery in the inbox before it is processed.
"""

import argparse
import configparser
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("EINVOICE_BENCH_DB", "einvoice_bench_efact"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--config", default=os.path.join(REPO, ".local", "odoo.cfg"))
    args = parser.parse_args()

    cfg = configparser.ConfigParser()
    cfg.read(args.config)
    for path in cfg.get("options", "addons_path", fallback="").split(","):
        root = os.path.dirname(os.path.dirname(path.rstrip("/"))) if path.endswith("odoo/addons") else None
        if root and os.path.isfile(os.path.join(root, "odoo-bin")):
            sys.path.insert(0, root)
            break
    import odoo
    from odoo import SUPERUSER_ID, Command, api

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    odoo.modules.module.current_test = True  # no commits: everything is rolled back at the end
    import threading

    from odoo.addons.einvoice_common.einvoice import transport as transport_module
    from odoo.addons.einvoice_common.einvoice.faults import FaultInjector
    from odoo.addons.einvoice_common.einvoice.runner import serve
    from odoo.addons.l10n_efact_aoc.efact import client as efact_client
    from odoo.addons.l10n_efact_aoc.efact import sandbox
    from odoo.addons.l10n_efact_aoc.models.account_move import AccountMove
    from odoo.addons.l10n_efact_aoc.models.l10n_efact_aoc_inbox import L10nEfactAocInbox

    timers = {"transport": 0.0, "import": 0.0, "store": 0.0, "calls": 0, "wall": 0.0}
    original_parallel = efact_client.parallel

    def timed_parallel(*a, **kw):
        main = threading.current_thread() is threading.main_thread()
        start = time.perf_counter()
        timers["nested"] = timers.get("nested", 0) + main
        try:
            return original_parallel(*a, **kw)
        finally:
            timers["nested"] -= main
            if main:
                timers["wall"] += time.perf_counter() - start  # e.g. DELIVERED of a batch

    import concurrent.futures

    original_result = concurrent.futures.Future.result

    def timed_result(self, *a, **kw):
        start = time.perf_counter()
        try:
            return original_result(self, *a, **kw)
        finally:
            main = threading.current_thread() is threading.main_thread()
            if main and not timers.get("nested"):
                timers["wall"] += time.perf_counter() - start  # waiting for a background download

    concurrent.futures.Future.result = timed_result

    original_request = transport_module.Transport.request
    original_create = AccountMove._l10n_efact_aoc_create_bill

    def timed_request(self, *a, **kw):
        start = time.perf_counter()
        try:
            return original_request(self, *a, **kw)
        finally:
            elapsed = time.perf_counter() - start
            timers["transport"] += elapsed
            timers["calls"] += 1
            main = threading.current_thread() is threading.main_thread()
            if main and not timers.get("nested"):
                timers["wall"] += elapsed  # the cron's own calls (worker threads: see parallel)

    def timed_create(self, *a, **kw):
        start = time.perf_counter()
        try:
            return original_create(self, *a, **kw)
        finally:
            timers["import"] += time.perf_counter() - start

    original_store = L10nEfactAocInbox._l10n_efact_aoc_store

    def timed_store(self, *a, **kw):
        start = time.perf_counter()
        try:
            return original_store(self, *a, **kw)
        finally:
            timers["store"] += time.perf_counter() - start

    L10nEfactAocInbox._l10n_efact_aoc_store = timed_store
    transport_module.Transport.request = timed_request
    efact_client.parallel = timed_parallel
    AccountMove._l10n_efact_aoc_create_bill = timed_create

    registry = odoo.modules.registry.Registry(args.db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env.ref("base.demo_company_es", raise_if_not_found=False)
        if not company:
            sys.exit("The database has no ES demo company: use setup/test's tier-2 database (with demo data).")
        company.vat = "ESP0800001J"
        app = sandbox.make_app(
            users={"bench": {"secret": "k", "roles": ["rcf"], "nifs": ["ESP0800001J"]}},
            entities=[
                {
                    "nif": "ESP0800001J",
                    "nom": "Ajuntament",
                    "dir3": [("L01", "L02", "L03")],
                }
            ],
            page_size=args.page_size,
        )
        for n in range(args.count):
            app.state.seed_invoice(
                nif="ESP0800001J",
                number=f"B{n:05d}",
                lines=[("Servei", 2, 50.0, 21.0), ("Material", 3, 10.0, 21.0)],
            )
        with serve(FaultInjector(app, latency=args.latency)) as server:
            credential = env["einvoice.credential"].create(
                {
                    "name": "bench",
                    "service": "efact",
                    "environment": "test",
                    "company_id": company.id,
                    "company_ids": [Command.set(company.ids)],
                    "username": "bench",
                    "secret_key": "k",
                    "l10n_efact_aoc_role_rcf": True,
                    "l10n_efact_aoc_role_supplier": False,
                }
            )
            credential.base_url = server.url
            start = time.perf_counter()
            delivered, refused = env["account.move"]._l10n_efact_aoc_pull_invoices(credential)
            total = time.perf_counter() - start
        cr.rollback()
    bills = len(delivered)
    print(
        f"eFACT RCF pull: {bills} bills ({len(refused)} refused) in {total:.1f} s, latency {args.latency * 1000:.0f} ms"
    )
    print(f"  throughput            {bills / total:.2f} bills/s")
    print(f"  Odoo Facturae import  {timers['import']:.1f} s ({timers['import'] / total:.0%} of the run)")
    print(f"  inbox store (raw)     {timers['store']:.1f} s ({timers['store'] / total:.0%} of the run)")
    print(f"  transport (waited)    {timers['wall']:.1f} s ({timers['wall'] / total:.0%} of the run)")
    print(
        f"  transport (all calls) {timers['transport']:.1f} s summed over threads, {timers['calls']} calls, "
        f"{timers['calls'] / max(bills, 1):.1f} per bill"
    )
    print(f"  transport / import    {timers['wall'] / max(timers['import'], 1e-9):.0%} (target < 20%)")
    print(f"  sequential bound      {timers['calls'] * args.latency:.1f} s of latency alone (calls x latency)")


if __name__ == "__main__":
    main()
