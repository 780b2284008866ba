"""Facture APP (Mexico) benchmarks against the sandbox; prints throughput and ratios.

    .venv/bin/python tests/bench/mexico_bench.py [--count 1000] [--latency 0.1] [--zip-count 5000] [--only build]

1. CFDI 4.0 build + official-XSD validation per second (single core).
2. N invoices stamped one by one vs through ZIP files of 500, with `latency` seconds added to
   every request; ratio and the theoretical bound (calls x latency).
3. Peak memory (tracemalloc, client + in-process sandbox) of a ZIP run of `zip-count` invoices.
4. With `--odoo-db DB`: the user's paths in Odoo, the list action (ZIP) vs Stamp CFDI one by one, on
   200 invoices (mexico_odoo_paths.py; needs a database with the addon and its demo data).
"""

import argparse
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from decimal import Decimal as D

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "mexico"))

import types  # noqa: E402

for _name in sorted(os.listdir(REPO)):  # addon folders as bare packages (their __init__ needs Odoo)
    if os.path.isfile(os.path.join(REPO, _name, "__manifest__.py")) and _name not in sys.modules:
        sys.modules[_name] = types.ModuleType(_name)
        sys.modules[_name].__path__ = [os.path.join(REPO, _name)]

from mx_common import IVA16, invoice  # noqa: E402

from einvoice_common.einvoice.faults import FaultInjector  # noqa: E402
from einvoice_common.einvoice.runner import serve  # noqa: E402
from einvoice_common.einvoice.transport import BasicAuth, Transport  # noqa: E402
from l10n_mx_factureapp.factureapp import client as fclient  # noqa: E402
from l10n_mx_factureapp.factureapp import documents as doc  # noqa: E402
from l10n_mx_factureapp.factureapp import sandbox  # noqa: E402


def lines(n, entered=False):
    """n lines; `entered`: the Odoo path (price as entered + the ERP's subtotal to check)."""
    result = []
    for i in range(n):
        quantity, price = D(i % 7 + 1), D("123.45") + i
        extra = {"subtotal": doc.rnd(quantity * price, 2)} if entered else {}
        result.append(doc.Line(f"Producto {i}", quantity, price, "01010101", "H87", taxes=[IVA16], **extra))
    return result


def bench_build(seconds=3.0):
    """Build + XSD per second: plain lines, the price-as-entered path, and (for the ratio) the
    same path validated with the exact official schema (catalogs as libxml2 enumerations)."""
    doc.schema()  # compile once
    doc.schema(exact=True)
    rates = {}
    for name, entered, exact in (
        ("plain lines", False, False),
        ("price as entered + subtotal check", True, False),
        ("same, exact-schema catalogs", True, True),
    ):
        count, start, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            warnings = []
            xml = doc.build_invoice(invoice(number=str(count), lines=lines(5, entered)), warnings)
            assert not doc.xsd_errors(xml, exact=exact) and not warnings
            count += 1
        elapsed, used = time.perf_counter() - start, time.process_time() - cpu
        rates[name] = count / elapsed
        print(
            f"build+XSD ({name}): {count / elapsed:.0f} CFDI/s wall, {count / used:.0f} CFDI/s per CPU second "
            f"(5 lines each, {elapsed * 1000 / count:.2f} ms per CFDI; goal >= 400/s)"
        )
    ratio = rates["price as entered + subtotal check"] / rates["same, exact-schema catalogs"]
    print(f"build+XSD: set look-up of the big catalogs is {ratio:.1f}x the exact-schema path")


def client_for(server):
    return fclient.FactureClient(Transport(server.url, auth=BasicAuth("demo", "demo-password"), timeout=(5, 600)))


def bench_one_vs_zip(count, latency, chunk=500):
    xmls = {f"INV-{n}.xml": doc.build_invoice(invoice(number=str(n))) for n in range(count)}
    app = sandbox.make_app(credits=10 * count)
    with serve(FaultInjector(app, latency=latency)) as server:
        api = client_for(server)
        start = time.perf_counter()
        for xml in xmls.values():
            api.stamp(xml, branch=1)
        single = time.perf_counter() - start
    app = sandbox.make_app(credits=10 * count)
    with serve(FaultInjector(app, latency=latency)) as server:
        api = client_for(server)
        start = time.perf_counter()
        names = list(xmls)
        stamped = 0
        for i in range(0, count, chunk):
            part = {n: xmls[n] for n in names[i : i + chunk]}
            report = api.stamp_zip(fclient.make_zip(part), branch=1, sent_names=part)
            stamped += len(fclient.read_zip(api.download(report.download_url)))
        bulk = time.perf_counter() - start
    assert stamped == count
    print(
        f"{count} one by one at {latency * 1000:.0f} ms latency: {single:.1f} s ({count / single:.1f}/s; bound "
        f"{count * latency:.1f} s, ratio to bound {single / (count * latency):.2f})"
    )
    zips = -(-count // chunk)
    print(
        f"{count} through {zips} ZIP(s) of {chunk}: {bulk:.1f} s ({count / bulk:.1f}/s); "
        f"one-by-one / ZIP = {single / bulk:.1f}x"
    )


def bench_memory(count, chunk=5000):
    xml_list = None
    tracemalloc.start()
    app = sandbox.make_app(credits=2 * count, check_date=False)
    with serve(app) as server:
        api = client_for(server)
        start = time.perf_counter()
        xml_list = {f"INV-{n}.xml": doc.build_invoice(invoice(number=str(n))) for n in range(count)}
        report = api.stamp_zip(fclient.make_zip(xml_list), branch=1, sent_names=xml_list)
        files = fclient.read_zip(api.download(report.download_url))
        elapsed = time.perf_counter() - start
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{count}-invoice ZIP run: {len(files)} stamped in {elapsed:.1f} s; peak traced memory "
        f"{peak / 2**20:.0f} MiB (client + in-process sandbox), process max RSS {rss:.0f} MiB"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--zip-count", type=int, default=5000)
    parser.add_argument("--odoo-db", help="also measure the Odoo paths on this database (mexico_odoo_paths.py)")
    parser.add_argument("--only", choices=("build",), help="run the build+XSD part only")
    args = parser.parse_args()
    if args.only == "build":
        return bench_build()
    if args.odoo_db:
        odoo_paths = [sys.executable, os.path.join(HERE, "mexico_odoo_paths.py"), "--db", args.odoo_db]
        subprocess.run([*odoo_paths, "--latency", str(args.latency)], check=True)
    bench_build()
    bench_one_vs_zip(args.count, args.latency)
    bench_memory(args.zip_count)


if __name__ == "__main__":
    main()
