"""LaFactura.co (Colombia) received documents: pure Python, no Odoo.

- documents: tolerant reader of the hook's `document` object and of `general.json`
  (the received UBL as JSON), CUFE and NIT checks, totals comparison, tax mapping,
  the webhook delivery check and the bill plan built from one document.
- client: getDocumentInfo over HTTP Basic (request shape configurable).
- errors: service codes -> message + kind.
- redact: a logging filter that keeps the webhook secret out of every log line.
- sandbox: a LaFactura.co stand-in (getDocumentInfo) and a hook sender.
- fixtures: documents (invoices, credit/debit notes, test-mode, DIAN-rejected).
"""
