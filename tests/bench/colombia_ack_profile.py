"""Profile: what one LaFactura.co webhook acknowledgement costs inside Odoo, without the network.

    .venv/bin/python tests/bench/colombia_ack_profile.py --db <a database with the addon>
        [--requests 300] [--profile 25] [--db-filter]

Calls Odoo's WSGI application (`odoo.http.root`) in this process with the requests a hook
delivery makes (POST, JSON, the secret in the path, no cookie), each body distinct, and prints
the time and SQL queries per request, then the `--profile` most expensive functions
(cumulative) of a cProfile run. The rows it stores are deleted at the end (one transaction
of its own), so any database with the addon will do, e.g. the one tier 2 built.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", type=int, default=25, help="functions to print (0: no profile)")
    parser.add_argument(
        "--db-filter",
        action="store_true",
        help="serve with --db-filter too (Odoo then lists the databases on every request without a cookie)",
    )
    args = parser.parse_args()
    odoo_src = os.environ.get("ODOO_SRC", os.path.expanduser("~/.cache/einvoice-connectors/odoo-18.0"))
    sys.path.insert(0, odoo_src)
    from werkzeug.test import EnvironBuilder

    import odoo

    cfg = os.environ.get("ODOO_RC", os.path.join(REPO, ".local", "odoo.cfg"))
    options = ["-c", cfg, "-d", args.db, "--log-level=warn"]
    odoo.tools.config.parse_config(options + ([f"--db-filter=^{args.db}$"] if args.db_filter else []))
    registry = odoo.modules.registry.Registry(args.db)
    from odoo.addons.l10n_co_lafactura.lafactura import fixtures

    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        credential = env["einvoice.credential"].search([("service", "=", "lafactura")], limit=1)
        secret = credential.l10n_co_lafactura_webhook_secret
        company_vat = credential.company_id.vat
        cr.execute("SELECT COALESCE(MAX(id), 0) FROM l10n_co_lafactura_inbox")
        (first_id,) = cr.fetchone()
    documents = fixtures.scenario(args.requests, seed=31, customer_nit=company_vat or fixtures.OUR_NIT)
    bodies = [json.dumps(fixtures.hook_body(d)).encode() for d in documents]
    statuses = []

    def start_response(status, headers):
        statuses.append((status, headers))

    def one(body):
        environ = EnvironBuilder(
            path="/l10n_co_lafactura/hook/" + secret,
            method="POST",
            data=body,
            content_type="application/json",
            headers={"Host": "127.0.0.1:8069", "User-Agent": "LaFactura.co/4.0"},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        ).get_environ()
        b"".join(odoo.http.root(environ, start_response))
        return threading.current_thread().query_count

    one(bodies[0])  # warm caches (routing map, ormcache)
    half = len(bodies) // 2
    queries = []
    start = time.perf_counter()
    for body in bodies[1:half]:
        queries.append(one(body))
    elapsed = time.perf_counter() - start
    count = max(1, half - 1)
    print(
        f"{count} requests: {elapsed / count * 1000:.2f} ms and {sum(queries) / len(queries):.1f} SQL queries "
        f"per request; statuses {sorted({s for s, _h in statuses})}; "
        f"cookies set: {sum(1 for _s, h in statuses if any(k.lower() == 'set-cookie' for k, _v in h))}"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for body in bodies[half:]:
            one(body)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print(out.getvalue())
    with registry.cursor() as cr:
        cr.execute("DELETE FROM l10n_co_lafactura_inbox WHERE id > %s", (first_id,))
        cr.execute(
            "DELETE FROM ir_cron_trigger WHERE cron_id IN (SELECT res_id FROM ir_model_data "
            "WHERE module = 'l10n_co_lafactura' AND model = 'ir.cron')"
        )


if __name__ == "__main__":
    main()
