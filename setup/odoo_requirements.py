"""Print Odoo 18.0's requirements as pins that install on this Python.

Odoo 18's pins for Python < 3.12 (cryptography 3.4.8, pyOpenSSL 21.0.0 ...) do not
build on a current toolchain; its Python 3.12 pins install and run Odoo 18 on
3.10-3.12. So every marker is evaluated as if on 3.12, psycopg2 becomes
psycopg2-binary, and LDAP and gevent (not needed here) are left out.
"""

import re
import sys

from packaging.requirements import Requirement

SKIP = {"python-ldap", "gevent", "greenlet", "pypiwin32", "rl-renderpm"}
ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
}


def pins(path):
    with open(path, encoding="utf-8") as handle:
        lines = handle.readlines()
    for raw in lines:
        line = re.sub(r"\s+#.*$", "", raw).strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        if req.name.lower() in SKIP:
            continue
        if req.marker and not req.marker.evaluate(ENV):
            continue
        name = "psycopg2-binary" if req.name.lower() == "psycopg2" else req.name
        yield f"{name}{req.specifier}"


if __name__ == "__main__":
    print("\n".join(pins(sys.argv[1])))
