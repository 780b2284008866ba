{
    "name": "Colombia - LaFactura.co received documents",
    "summary": "Receive supplier e-invoices, credit and debit notes from LaFactura.co by webhook "
    "and turn them into verified vendor bills",
    "version": "1.0.0",
    "category": "Accounting/Localizations/EDI",
    "author": "einvoice-connectors contributors",
    "website": "https://github.com/einvoice-connectors/einvoice-connectors",
    "license": "LGPL-3",
    "countries": ["co"],
    "depends": ["einvoice_common", "l10n_co", "account_debit_note"],
    "external_dependencies": {"python": ["requests", "lxml"]},
    "data": [
        "security/ir.model.access.csv",
        "security/l10n_co_lafactura_security.xml",
        "data/ir_cron.xml",
        "views/l10n_co_lafactura_inbox_views.xml",
        "views/einvoice_credential_views.xml",
        "views/res_config_settings_views.xml",
        "views/account_move_views.xml",
    ],
    "demo": ["demo/l10n_co_lafactura_demo.xml"],
    "assets": {
        "web.assets_tests": ["l10n_co_lafactura/static/tests/tours/*.js"],
    },
    "installable": True,
}
