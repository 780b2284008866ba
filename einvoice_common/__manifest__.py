{
    "name": "E-invoicing connectors: common",
    "summary": "Credentials and tokens, HTTP transport, exchange log and sandboxes "
    "shared by the e-invoicing service connectors",
    "version": "1.0.0",
    "category": "Accounting/Localizations/EDI",
    "author": "einvoice-connectors contributors",
    "website": "https://github.com/einvoice-connectors/einvoice-connectors",
    "license": "LGPL-3",
    "depends": ["account", "mail"],
    "external_dependencies": {"python": ["requests", "werkzeug"]},
    "data": [
        "security/ir.model.access.csv",
        "security/einvoice_security.xml",
        "data/ir_cron.xml",
        "views/einvoice_credential_views.xml",
        "views/einvoice_exchange_views.xml",
        "views/account_move_views.xml",
        "views/res_config_settings_views.xml",
    ],
    "installable": True,
}
