"""Profile: what the LaFactura.co processing cron costs per bill, in this process.

    .venv/bin/python tests/bench/colombia_cron_profile.py --template <a database with the addon>
        [--documents 60] [--latency 0.0] [--profile 40] [--core]

Copies `--template` (e.g. the database tier 2 built) into a throw-away database, starts the
LaFactura.co sandbox on loopback, stores `--documents` distinct deliveries the way the webhook
does, then runs the processing cron once under cProfile and prints seconds, SQL queries and
bills per second, and the most expensive functions (cumulative). `--core` then creates and
posts the same bills again (same supplier, journal, lines, accounts and taxes) through core's
`account.move.create` + `action_post`, one at a time as a person typing them would, for a
side-by-side figure.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "bench"))
import colombia_webhook as bench  # noqa: E402 - database copy and configuration helpers

from einvoice_common.einvoice.faults import FaultInjector  # noqa: E402
from einvoice_common.einvoice.runner import serve  # noqa: E402
from l10n_co_lafactura.lafactura import fixtures, sandbox  # noqa: E402


def queries():
    return getattr(threading.current_thread(), "query_count", 0)


def core_bills(env, bills):
    """Core's path for the same bills: each created with the same lines and posted, one at a time."""
    values = [
        {
            "move_type": bill.move_type,
            "journal_id": bill.journal_id.id,
            "partner_id": bill.partner_id.id,
            "ref": f"CORE-{bill.ref}",
            "invoice_date": bill.invoice_date,
            "invoice_line_ids": [
                (
                    0,
                    0,
                    {
                        "name": line.name,
                        "quantity": line.quantity,
                        "price_unit": line.price_unit,
                        "discount": line.discount,
                        "account_id": line.account_id.id,
                        "tax_ids": [(6, 0, line.tax_ids.ids)],
                    },
                )
                for line in bill.invoice_line_ids
            ],
        }
        for bill in bills
    ]
    start, before = time.perf_counter(), queries()
    for vals in values:
        env["account.move"].with_company(bills.company_id[:1]).create(vals).action_post()
    env.cr.commit()
    return time.perf_counter() - start, queries() - before


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", required=True)
    parser.add_argument("--db", default="einvoice_colombia_cron_profile")
    parser.add_argument("--documents", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--profile", type=int, default=40)
    parser.add_argument("--core", action="store_true")
    args = parser.parse_args()
    cfg = bench.odoo_config()
    bench.copy_database(cfg, args.template, args.db)
    odoo_src = os.environ.get("ODOO_SRC", os.path.expanduser("~/.cache/einvoice-connectors/odoo-18.0"))
    sys.path.insert(0, odoo_src)
    import odoo

    odoo.tools.config.parse_config(["-c", os.path.join(REPO, ".local", "odoo.cfg"), "-d", args.db])
    lafactura = sandbox.make_app()
    api = serve(FaultInjector(lafactura, latency=args.latency))
    try:
        registry = odoo.modules.registry.Registry(args.db)
        threading.current_thread().dbname = args.db
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            run(env, args, lafactura, api)
    finally:
        api.stop()
        odoo.sql_db.close_all()
        bench.drop_database(cfg, args.db)


def run(env, args, lafactura, api):
    from odoo.addons.l10n_co_lafactura.lafactura import documents as lf_docs

    credential = env["einvoice.credential"].search([("service", "=", "lafactura")], limit=1)
    credential.write({"base_url": api.url + "/facturacion.v30/", "max_retries": 1})
    Inbox = env["l10n_co_lafactura.inbox"]
    documents = fixtures.scenario(args.documents, seed=41, customer_nit=credential.company_id.vat or fixtures.OUR_NIT)
    for document in documents:
        lafactura.state.add(document)
        body = json.dumps(fixtures.hook_body(document)).encode()
        Inbox._l10n_co_lafactura_store(credential, lf_docs.inspect_delivery("POST", "application/json", body), body)
    env.cr.commit()
    env.invalidate_all()
    threading.current_thread().query_count = 0
    threading.current_thread().query_time = 0
    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    done = 0
    while True:  # the cron re-triggers itself while work remains; run it until it has none
        batch = Inbox._cron_l10n_co_lafactura_process()
        done += batch
        if not batch:
            break
    if profiler:
        profiler.disable()
    seconds, count = time.perf_counter() - start, queries()
    states = {g["state"]: g["state_count"] for g in Inbox.read_group([], ["state"], ["state"])}
    print(
        f"cron: {done} rows in {seconds:.2f}s = {done / seconds:.1f} bills/s, {seconds / max(done, 1) * 1000:.0f} ms "
        f"and {count / max(done, 1):.1f} SQL queries per bill (sandbox latency {args.latency * 1000:.0f} ms); {states}"
    )
    if args.core:
        bills = Inbox.search([("move_id", "!=", False)]).move_id
        core_seconds, core_queries = core_bills(env, bills)
        core_rate = len(bills) / core_seconds
        print(
            f"core create + action_post of the same {len(bills)} bills, one by one: {core_rate:.1f} bills/s, "
            f"{core_queries / len(bills):.1f} SQL queries per bill; ratio {done / seconds / core_rate:.2f}× core"
        )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
            os.environ.get("PROFILE_FILTER", ""), args.profile
        )
        print(out.getvalue())


if __name__ == "__main__":
    main()
