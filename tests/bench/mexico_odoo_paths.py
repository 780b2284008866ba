"""Facture APP through the user's paths in Odoo: the list action (ZIP) vs Stamp CFDI one by one.

    .venv/bin/python tests/bench/mexico_odoo_paths.py --db t_mx-odoo [--count 200] [--latency 0.1] [--rounds 3]

Needs a database with `l10n_mx_factureapp` and its demo data (a tier-2 test database will do) and the
Odoo source (`--odoo-src`, default the cache folder setup/ uses). Each round creates `count` posted
invoices of the Mexican demo company, stamps them through one path against the sandbox (in process,
`latency` seconds added to every request), and rolls everything back: the database is left as it was
(commits are disabled for the run, the same for both paths). Rounds alternate the paths; medians are
printed with the ratio.
"""

import argparse
import os
import statistics
import sys
import time
from unittest.mock import patch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SRC = os.path.expanduser("~/.cache/einvoice-connectors/odoo-18.0")


def _env(args):
    sys.path.insert(0, args.odoo_src)
    import odoo  # noqa: PLC0415 - Odoo is optional for the rest of the benches
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(["-c", args.config, "-d", args.db, "--log-level", "warn"])
    odoo.modules.module.current_test = False
    return odoo, odoo.modules.registry.Registry(args.db)


def _invoices(env, count):
    company = env.ref("base.demo_company_mx")
    partner = env.ref("l10n_mx_factureapp.demo_partner_ure")
    product = env.ref("l10n_mx_factureapp.demo_product_service")
    tax = company.account_sale_tax_id
    line = {"product_id": product.id, "quantity": 2, "price_unit": 1500.0, "tax_ids": [(6, 0, tax.ids)]}
    quiet = {"tracking_disable": True, "mail_create_nolog": True}  # setting up is not measured: no chatter
    moves = (
        env["account.move"]
        .with_company(company)
        .with_context(**quiet)
        .create(
            [
                {"move_type": "out_invoice", "partner_id": partner.id, "invoice_line_ids": [(0, 0, line)]}
                for _ in range(count)
            ]
        )
    )
    moves.action_post()
    return moves.with_env(env).with_company(company)  # measured in the context of a request


def _one_by_one(moves):
    for move in moves:  # what an accountant does: open each invoice, press Stamp CFDI
        move.action_l10n_mx_factureapp_stamp()


def _list_action(moves):
    moves.action_l10n_mx_factureapp_stamp_bulk()  # select them in the list, Action > Stamp CFDI in bulk


def _round(odoo, registry, path, count, server_url, profile=None):
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env.ref("l10n_mx_factureapp.demo_credential").base_url = server_url
        moves = _invoices(env, count)
        env.flush_all()
        queries = cr.sql_log_count
        start = time.perf_counter()
        if profile:
            profile.enable()
        path(moves)
        env.flush_all()
        if profile:
            profile.disable()
        elapsed = time.perf_counter() - start
        queries = cr.sql_log_count - queries
        stamped = len(moves.filtered(lambda m: m.l10n_mx_factureapp_state == "stamped"))
        cr.rollback()
    if stamped != count:
        raise SystemExit(f"{path.__name__}: {stamped} of {count} stamped")
    return elapsed, queries


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", default=os.path.join(REPO, ".local", "odoo.cfg"))
    parser.add_argument("--odoo-src", default=os.environ.get("ODOO_SRC", DEFAULT_SRC))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=("single", "zip"), help="cProfile that path only (one round)")
    args = parser.parse_args()
    odoo, registry = _env(args)
    from odoo.addons.einvoice_common import dbtools  # noqa: PLC0415
    from odoo.addons.einvoice_common.einvoice.faults import FaultInjector  # noqa: PLC0415
    from odoo.addons.einvoice_common.einvoice.runner import serve  # noqa: PLC0415
    from odoo.addons.l10n_mx_factureapp.factureapp import sandbox  # noqa: PLC0415

    paths = (("one by one", _one_by_one), ("list action (ZIP)", _list_action))
    if args.profile:
        return _profile(args, odoo, registry, paths[args.profile == "zip"])
    times = {"one by one": [], "list action (ZIP)": []}
    queries = {}
    # one transaction rolled back at the end of each round: no commit, no cursor of its own
    with (
        patch.object(dbtools, "can_commit", lambda env=None: False),
        patch.object(dbtools, "uses_own_cursor", lambda env: False),
    ):
        for _round_no in range(args.rounds):
            for name, path in paths:
                app = sandbox.make_app(credits=10 * args.count)
                with serve(FaultInjector(app, latency=args.latency)) as server:
                    elapsed, queries[name] = _round(odoo, registry, path, args.count, server.url)
                    times[name].append(elapsed)
    single, bulk = (statistics.median(times[k]) for k in times)
    print(f"Facture APP, {args.count} invoices at {args.latency * 1000:.0f} ms, medians of {args.rounds} rounds:")
    per = {name: count / args.count for name, count in queries.items()}
    print(
        f"  one by one (Stamp CFDI per invoice): {single:.1f} s ({args.count / single:.1f} invoices/s, "
        f"{per['one by one']:.1f} queries/invoice; bound {2 * args.count * args.latency:.0f} s for stamp + PDF calls)"
    )
    print(
        f"  list action (ZIP):                   {bulk:.1f} s ({args.count / bulk:.1f} invoices/s, "
        f"{per['list action (ZIP)']:.1f} queries/invoice)"
    )
    print(f"  list action / one by one = {single / bulk:.1f}x (goal >= 10x)")


def _profile(args, odoo, registry, named_path):
    """One round of one path under cProfile; prints the top of the cumulative and own-time lists."""
    import cProfile  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    from odoo.addons.einvoice_common import dbtools  # noqa: PLC0415
    from odoo.addons.einvoice_common.einvoice.faults import FaultInjector  # noqa: PLC0415
    from odoo.addons.einvoice_common.einvoice.runner import serve  # noqa: PLC0415
    from odoo.addons.l10n_mx_factureapp.factureapp import sandbox  # noqa: PLC0415

    name, path = named_path
    profile = cProfile.Profile()
    with (
        patch.object(dbtools, "can_commit", lambda env=None: False),
        patch.object(dbtools, "uses_own_cursor", lambda env: False),
    ):
        app = sandbox.make_app(credits=10 * args.count)
        with serve(FaultInjector(app, latency=args.latency)) as server:
            elapsed, queries = _round(odoo, registry, path, args.count, server.url, profile)
    print(f"{name}: {elapsed:.2f} s, {queries / args.count:.1f} queries/invoice (under cProfile)")
    stats = pstats.Stats(profile).strip_dirs()
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(40)
    stats.print_callers("models.py.*[(]search[)]|models.py.*[(]modified[)]")


if __name__ == "__main__":
    main()
