"""The official CIUS-RO 1.0.9 validation stylesheet (schemas/), run with saxonche.

    python cius_ro.py file.xml [...]   -> prints a JSON {file: [fatal messages]} and exits 1 when any

`fatal_asserts(xml_bytes)` returns ANAF's fatal rule failures (id + text) of one document.
saxonche is a test/optional dependency; it is imported lazily. Run it in its own process when
the caller is a multi-threaded server (GraalVM isolates dislike foreign threads).
"""

import json
import os
import re
import sys

XSLT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "schemas",
    "ROeFactura-UBL-validation-Invoice_v1.0.9.xslt",
)


def fatal_asserts_many(xml_documents):
    from saxonche import PySaxonProcessor

    results = []
    with PySaxonProcessor(license=False) as processor:
        xslt = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=XSLT)
        for xml in xml_documents:
            text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
            node = processor.parse_xml(xml_text=text)
            svrl = xslt.transform_to_string(xdm_node=node)
            fatal = []
            for part in svrl.split("<svrl:failed-assert")[1:]:
                head = part.split(">", 1)[0]
                if 'flag="fatal"' not in head:
                    continue
                rule = re.search(r'id="([^"]*)"', head)
                message = re.search(r"<svrl:text>(.*?)</svrl:text>", part, re.DOTALL)
                rule_id = rule.group(1) if rule else "?"
                text = " ".join((message.group(1) if message else "").split())
                fatal.append(f"{rule_id}: {text}")
            results.append(fatal)
    return results


def fatal_asserts(xml):
    return fatal_asserts_many([xml])[0]


def main(paths):
    contents = []
    for path in paths:
        with open(path, "rb") as handle:
            contents.append(handle.read())
    report = dict(zip(paths, fatal_asserts_many(contents), strict=True))
    sys.stdout.write(json.dumps(report) + "\n")
    return 1 if any(report.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
