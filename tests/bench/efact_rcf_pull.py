"""Benchmark: eFACT RCF pull into vendor bills, side by side with Odoo core's Facturae import.

    .venv/bin/python tests/bench/efact_rcf_pull.py --db einvoice_bench_efact [--count 100] [--latency 0.05]
        [--rounds 3]

Needs a database with l10n_efact_aoc and its demo data: a copy of setup/test's tier-2 database (setup/test
drops and recreates that one when addons change, which kills a benchmark running on it), e.g.
`CREATE DATABASE einvoice_bench_efact TEMPLATE t_efact_in`.

Each round seeds `count` invoices in the sandbox hub (network latency `--latency` per call) and runs, in
alternating order:
- this project: the RCF pull of one connection, end to end: list, download, inbox store, bill with its
  lines, attachments, DELIVERED reported (`account.move._l10n_efact_aoc_pull_invoices`);
- core: the same Facturae files through `l10n_es_edi_facturae`'s `_import_invoice_facturae` into an empty
  bill (what Odoo does with an uploaded Facturae), with the file attached to the bill; no network.
Every side runs inside a savepoint rolled back afterwards (commits are skipped: the per-bill commits of
the cron are not what is measured). Prints bills/s and SQL queries per bill of both sides per round,
their medians and the ratio.
"""

import argparse
import configparser
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NIF = "ESP0800001J"


def _odoo(config, db):
    cfg = configparser.ConfigParser()
    cfg.read(config)
    for path in cfg.get("options", "addons_path", fallback="").split(","):
        root = os.path.dirname(os.path.dirname(path.rstrip("/"))) if path.endswith("odoo/addons") else None
        if root and os.path.isfile(os.path.join(root, "odoo-bin")):
            sys.path.insert(0, root)
            break
    import odoo

    odoo.tools.config.parse_config(["-c", config, "-d", db, "--log-level=warn"])
    odoo.modules.module.current_test = True  # no commits: everything is rolled back
    return odoo


def _measure(env, run):
    """(seconds, queries) of `run()` inside a savepoint rolled back afterwards."""
    cr = env.cr
    env.flush_all()
    cr.execute("SAVEPOINT bench_side")
    queries = cr.sql_log_count
    start = time.perf_counter()
    run()
    env.flush_all()
    elapsed = time.perf_counter() - start
    queries = cr.sql_log_count - queries
    cr.execute("ROLLBACK TO SAVEPOINT bench_side")
    env.invalidate_all()
    return elapsed, queries


def _profiled(run):
    def profiled():
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(run)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)

    return profiled


def _core_import(env, company, files):
    """Odoo core's Facturae import of `files` into new vendor bills, the file attached to each."""
    from lxml import etree

    Move = env["account.move"].with_company(company)
    journal = company._l10n_efact_aoc_purchase_journal()
    for name, content in files:
        bill = Move.create({"move_type": "in_invoice", "journal_id": journal.id, "company_id": company.id})
        env["ir.attachment"].create(
            {
                "name": name,
                "raw": content,
                "mimetype": "application/xml",
                "res_model": "account.move",
                "res_id": bill.id,
            }
        )
        tree = etree.fromstring(content)
        file_data = {"type": "xml", "xml_tree": tree, "filename": name, "content": content}
        with bill._get_edi_creation() as invoice:
            invoice._import_invoice_facturae(invoice, file_data, new=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("EINVOICE_BENCH_DB", "einvoice_bench_efact"))
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", default=os.path.join(REPO, ".local", "odoo.cfg"))
    parser.add_argument("--profile", metavar="SIDE", choices=("ours", "core"), help="cProfile one side, print the top")
    args = parser.parse_args()
    odoo = _odoo(args.config, args.db)
    from odoo import SUPERUSER_ID, Command, api

    from odoo.addons.einvoice_common.einvoice.faults import FaultInjector
    from odoo.addons.einvoice_common.einvoice.runner import serve
    from odoo.addons.l10n_efact_aoc.efact import sandbox

    registry = odoo.modules.registry.Registry(args.db)
    results = {"ours": [], "core": []}
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env.ref("base.demo_company_es", raise_if_not_found=False)
        if not company:
            sys.exit("The database has no ES demo company: use setup/test's tier-2 database (with demo data).")
        company.vat = NIF
        app = sandbox.make_app(
            users={"bench": {"secret": "k", "roles": ["rcf"], "nifs": [NIF]}},
            entities=[{"nif": NIF, "nom": "Ajuntament", "dir3": [("L01", "L02", "L03")]}],
            page_size=500,
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
            for round_ in range(args.rounds + 1):  # round 0 warms caches up and is not counted
                ids = [
                    app.state.seed_invoice(
                        nif=NIF,
                        number=f"R{round_}-{n:04d}",
                        lines=[("Servei", 2, 50.0, 21.0), ("Material", 3, 10.0, 21.0)],
                    )
                    for n in range(args.count)
                ]
                files = [(f"{hub_id}.xml", app.state.invoices[hub_id]["facturae"]) for hub_id in ids]

                def ours():
                    delivered, refused = env["account.move"]._l10n_efact_aoc_pull_invoices(credential)
                    assert len(delivered) == args.count and not refused, (len(delivered), refused)

                def core(files=files):
                    _core_import(env, company, files)

                sides = [("ours", ours), ("core", core)]
                if round_ % 2:
                    sides.reverse()
                for name, run in sides:
                    if args.profile == name and round_ == 1:
                        run = _profiled(run)
                    elapsed, queries = _measure(env, run)
                    if round_:
                        results[name].append((args.count / elapsed, queries / args.count))
                        print(
                            f"round {round_} {name:4}  {args.count / elapsed:6.2f} bills/s  "
                            f"{queries / args.count:6.1f} queries/bill"
                        )
        cr.rollback()
    from odoo.addons.l10n_efact_aoc.models.l10n_efact_aoc_inbox import DOWNLOAD_WORKERS as workers

    ours_rate = statistics.median(r for r, _q in results["ours"])
    core_rate = statistics.median(r for r, _q in results["core"])
    round_ratio = statistics.median(o[0] / c[0] for o, c in zip(results["ours"], results["core"], strict=True))
    ours_q = statistics.median(q for _r, q in results["ours"])
    core_q = statistics.median(q for _r, q in results["core"])
    print(
        f"eFACT RCF, {args.count} invoices x {args.rounds} rounds, latency {args.latency * 1000:.0f} ms, medians:\n"
        f"  this project (pull end to end)  {ours_rate:6.2f} bills/s  {ours_q:6.1f} queries/bill\n"
        f"  core _import_invoice_facturae   {core_rate:6.2f} bills/s  {core_q:6.1f} queries/bill\n"
        f"  ratio                           {ours_rate / core_rate:6.2f}x  (queries {ours_q / core_q:.2f}x)\n"
        f"  median of the per-round ratios  {round_ratio:6.2f}x\n"
        f"  network bound of the pull       {args.count * 3 * args.latency / workers:6.1f} s for 3 calls/bill at this "
        f"latency over {workers} concurrent calls ({args.count / ours_rate:.1f} s measured)"
    )


if __name__ == "__main__":
    main()
