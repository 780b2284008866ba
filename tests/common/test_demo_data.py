"""Demo data an accountant meets after an update: `<function>` tags that create records run once.

Odoo runs a `<function>` of a data file again on every module update unless it sits in a
`noupdate` block; a demo function that creates invoices would add new ones at each `-u`
(each `setup/run` after a code change).
"""

from pathlib import Path

from lxml import etree

REPO = Path(__file__).resolve().parents[2]


def _demo_files():
    return sorted(REPO.glob("*/demo/*.xml"))


def _in_noupdate(node):
    while node is not None:
        if node.get("noupdate") in ("1", "True", "true"):
            return True
        node = node.getparent()
    return False


def test_demo_functions_run_at_install_only():
    functions = [
        (path.relative_to(REPO), fn.get("name"))
        for path in _demo_files()
        for fn in etree.parse(str(path)).iter("function")
    ]
    assert functions, "no demo <function> found: the glob or the demo layout changed"
    repeated = [
        (str(path), name)
        for path in _demo_files()
        for fn in etree.parse(str(path)).iter("function")
        if not _in_noupdate(fn)
        for name in [fn.get("name")]
    ]
    assert not repeated, f"demo functions re-run on every update (put them in <data noupdate='1'>): {repeated}"
