"""ANAF through the user's paths in Odoo, side by side with core's `l10n_ro_edi` against the same sandbox.

    .venv/bin/python tests/bench/anaf_odoo_paths.py --db t_ro_flow [--count 100] [--latency 0.08] [--rounds 3]
    .venv/bin/python tests/bench/anaf_odoo_paths.py --db t_ro_flow --sustained 1000 [--per-minute 1000]
    .venv/bin/python tests/bench/anaf_odoo_paths.py --db t_ro_flow --profile ours   (cProfile of one round)

Needs a database with `l10n_ro_anaf_efactura` and its demo data (a tier-2 test database will do). Each round
creates `count` posted invoices of the Romanian demo company and brings them to ANAF's final answer through one
path, then rolls everything back (the database is left as it was):
- core: `l10n_ro_edi` uploads each invoice (`_l10n_ro_edi_send_invoice`), then its fetch action asks
  `stareMesaj` and downloads the answer of each invoice (3 calls per invoice);
- ours: the list action `Send e-Factura to ANAF` (one einvoice.attempt per invoice), then the send/status
  cron: one `listaMesajePaginatieFactura` call reports the outcome of up to 500 uploads, and the signed ZIPs
  are downloaded (2 calls per invoice, plus one list call per 500).
Every request of both paths reaches the sandbox (core's hard-coded https://api.anaf.ro is rewritten to it)
with `latency` seconds added. Rounds alternate the paths; medians are printed with the ratio and the calls.
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
ANAF = "https://api.anaf.ro"


def _env(args):
    sys.path.insert(0, args.odoo_src)
    import odoo  # noqa: PLC0415 - Odoo is optional for the rest of the benches
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(["-c", args.config, "-d", args.db, "--log-level", "warn"])
    odoo.modules.module.current_test = True  # one cursor, no commit: each round is rolled back
    return odoo, odoo.modules.registry.Registry(args.db)


def _invoices(env, count):
    company = env.ref("base.demo_company_ro")
    partner = env.ref("l10n_ro_anaf_efactura.demo_partner_buyer")
    template = env["account.move"].search(
        [("company_id", "=", company.id), ("move_type", "=", "out_invoice"), ("partner_id", "=", partner.id)],
        limit=1,
    )
    line = template.invoice_line_ids[:1]
    values = {"name": line.name, "quantity": 1, "price_unit": 100.0, "tax_ids": [(6, 0, line.tax_ids.ids)]}
    moves = (
        env["account.move"]
        .with_company(company)
        .create(
            [
                {"move_type": "out_invoice", "partner_id": partner.id, "invoice_line_ids": [(0, 0, values)]}
                for _ in range(count)
            ]
        )
    )
    moves.action_post()
    return moves


def _core(env, moves):
    builder = env["account.edi.xml.ubl_ro"]
    for move in moves:  # what Send & Print of l10n_ro_edi does per invoice
        move._l10n_ro_edi_send_invoice(builder._export_invoice(move)[0])
    moves._l10n_ro_edi_fetch_invoice_sent_documents()  # the fetch action / its cron
    return len(moves.filtered(lambda m: m.l10n_ro_edi_state == "invoice_validated"))


def _ours(env, moves):
    moves.action_l10n_ro_anaf_efactura_send()  # Action > Send e-Factura to ANAF (SPV)
    Document = env["l10n_ro_anaf_efactura.document"]
    for _run in range(5):  # the cron, re-triggered while work remains
        live = moves.l10n_ro_anaf_efactura_document_ids.filtered(lambda d: d.state in ("sent", "waiting", "unknown"))
        if not live:
            break
        live.write({"next_check": env.cr.now().replace(tzinfo=None)})
        Document._cron_l10n_ro_anaf_efactura_status(limit=len(moves))
    return len(moves.filtered(lambda m: m.l10n_ro_anaf_efactura_state == "ok"))


def _profiled(function, path):
    """Run `function` under cProfile; the top functions (cumulative and own time) go to stdout and `path`."""
    import cProfile  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    profiler = cProfile.Profile()
    result = profiler.runcall(function)
    profiler.dump_stats(path)
    for order in ("cumulative", "tottime"):
        pstats.Stats(profiler).sort_stats(order).print_stats(30)
    return result


def _connect(env, server, app):
    """Both paths' tokens, issued by the sandbox; our connection pointed at it."""
    issued = app.state.issue_tokens()
    env["ir.config_parameter"].set_param("einvoice.sandbox_url.anaf", server.url)
    credential = env.ref("l10n_ro_anaf_efactura.demo_credential_anaf")
    credential.write(
        {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"], "state": "connected"}
    )
    company = env.ref("base.demo_company_ro")
    company.write({"l10n_ro_edi_access_token": issued["access_token"], "l10n_ro_edi_test_env": True})


def _sustained(odoo, registry, count, app, server, per_minute):
    """Send & Print of `count` invoices handed to the cron, run until every one has ANAF's final answer, at
    ANAF's quota: the sandbox lets `per_minute` calls through in any 60 s (sliding), our PostgreSQL limiter
    95 % of it. Returns (seconds, calls, HTTP 429 answers, busiest 60 s at the sandbox)."""
    app.state.per_minute = per_minute
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        _connect(env, server, app)
        env["ir.config_parameter"].set_param("l10n_ro_anaf_efactura.calls_per_minute", int(per_minute * 0.95))
        moves = _invoices(env, count)
        env.flush_all()
        calls, refused = len(app.state.calls), app.state.rate_limited
        start = time.perf_counter()
        moves._l10n_ro_anaf_efactura_send(queue=True)  # what Send & Print of several invoices does
        Document = env["l10n_ro_anaf_efactura.document"]
        for _run in range(4 * (count // 500 + 2)):  # the cron, re-triggered while work remains
            live = moves.l10n_ro_anaf_efactura_document_ids.filtered(
                lambda d: d.state in ("draft", "sent", "waiting", "unknown")
            )
            if not live:
                break
            live.write({"next_check": env.cr.now().replace(tzinfo=None)})
            Document._cron_l10n_ro_anaf_efactura_status(limit=len(moves))
        env.flush_all()
        elapsed = time.perf_counter() - start
        done = len(moves.filtered(lambda m: m.l10n_ro_anaf_efactura_state == "ok"))
        cr.rollback()
    if done != count:
        raise SystemExit(f"sustained: {done} of {count} reached ANAF's final answer")
    return elapsed, len(app.state.calls) - calls, app.state.rate_limited - refused, app.state.most_calls_in_window()


def _round(odoo, registry, name, count, server, app, profile=None, workers=None):
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        _connect(env, server, app)
        if workers:
            env["ir.config_parameter"].set_param("l10n_ro_anaf_efactura.concurrent_calls", workers)
        moves = _invoices(env, count)
        env.flush_all()
        calls = len(app.state.calls)
        start = time.perf_counter()
        path = _core if name == "core" else _ours
        done = _profiled(lambda: path(env, moves), profile) if profile else path(env, moves)
        env.flush_all()
        elapsed = time.perf_counter() - start
        cr.rollback()
    if done != count:
        raise SystemExit(f"{name}: {done} of {count} reached ANAF's final answer")
    return elapsed, len(app.state.calls) - calls


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", default=os.path.join(REPO, ".local", "odoo.cfg"))
    parser.add_argument("--odoo-src", default=os.environ.get("ODOO_SRC", DEFAULT_SRC))
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.08)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=("core", "ours"), help="one round of that path under cProfile")
    parser.add_argument("--sustained", type=int, default=0, help="invoices sent at ANAF's quota (Send & Print)")
    parser.add_argument("--per-minute", type=int, default=1000, help="the sandbox's calls in any 60 s")
    parser.add_argument("--workers", type=int, help="concurrent calls of ours (1: one after the other)")
    args = parser.parse_args()
    odoo, _registry = _env(args)
    import requests  # noqa: PLC0415

    from odoo.addons.einvoice_common.einvoice.faults import FaultInjector  # noqa: PLC0415
    from odoo.addons.einvoice_common.einvoice.runner import serve  # noqa: PLC0415
    from odoo.addons.l10n_ro_anaf_efactura.anaf import sandbox  # noqa: PLC0415

    registry = _registry
    original = requests.sessions.Session.request
    results = {"core": [], "ours": []}
    with serve(FaultInjector(app := sandbox.make_app(), latency=args.latency)) as server:

        def to_sandbox(self, method, url, *a, **kw):  # core's host is hard-coded: send it to the sandbox
            if str(url).startswith(ANAF):
                url = server.url + str(url)[len(ANAF) :]
            return original(self, method, url, *a, **kw)

        with patch.object(requests.sessions.Session, "request", to_sandbox):
            if args.sustained:
                return _print_sustained(args, *_sustained(odoo, registry, args.sustained, app, server, args.per_minute))
            if args.profile:
                elapsed, calls = _round(
                    odoo, registry, args.profile, args.count, server, app, f"/tmp/anaf_{args.profile}.prof"
                )
                print(f"{args.profile}: {elapsed:.1f} s, {calls} calls (profiled: slower than a plain round)")
                return
            for _round_no in range(args.rounds):
                for name in ("core", "ours"):
                    results[name].append(_round(odoo, registry, name, args.count, server, app, workers=args.workers))
    core, ours = (statistics.median(t for t, _c in results[k]) for k in ("core", "ours"))
    core_calls, our_calls = (statistics.median(c for _t, c in results[k]) for k in ("core", "ours"))
    print(
        f"ANAF, {args.count} invoices to ANAF's final answer at {args.latency * 1000:.0f} ms, medians of {args.rounds}:"
    )
    print(
        f"  core l10n_ro_edi (send, then fetch): {core:.1f} s, {args.count / core:.1f} invoices/s, "
        f"{core_calls / args.count:.2f} calls/invoice"
    )
    print(
        f"  ours (list action, then the cron):   {ours:.1f} s, {args.count / ours:.1f} invoices/s, "
        f"{our_calls / args.count:.2f} calls/invoice"
    )
    print(f"  ours / core = {core / ours:.2f}x (goal >= 3x)")


def _print_sustained(args, elapsed, calls, refused, busiest):
    rate = calls / elapsed * 60
    invoices = args.sustained / elapsed * 60
    core_bound = args.per_minute / 3  # upload, stareMesaj, download per invoice
    print(
        f"ANAF sustained, Send & Print of {args.sustained} invoices through the cron at {args.latency * 1000:.0f} ms, "
        f"sandbox quota {args.per_minute} calls in any 60 s, ours {int(args.per_minute * 0.95)}:"
    )
    print(
        f"  {calls} calls in {elapsed:.1f} s = {rate:.0f} calls/min ({rate / args.per_minute:.1%} of the quota), "
        f"busiest 60 s at the sandbox {busiest}, HTTP 429: {refused}, {calls / args.sustained:.3f} calls/invoice"
    )
    print(
        f"  {invoices:.0f} invoices/min = {invoices / core_bound:.2f}x core's bound of {core_bound:.0f} "
        "(3 calls per invoice; goal >= 1.4x)"
    )


if __name__ == "__main__":
    main()
