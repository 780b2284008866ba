/** @odoo-module */

import { registry } from "@web/core/registry";
import { session } from "@web/session";

// Odoo 19.0 asks a step that leaves the page to say so (expectUnloadPage); 18.0's step schema
// does not know the key and would log an error.
const leavesPage = (session.server_version_info || [])[0] >= 19 ? { expectUnloadPage: true } : {};

// An administrator connects Odoo to ANAF: Settings, "Authenticate with ANAF", ANAF's consent
// (the sandbox approves for the certificate holder), back in Odoo on the connection, connected.
registry.category("web_tour.tours").add("l10n_ro_anaf_efactura_authenticate", {
    steps: () => [
        {
            content: "Open the Invoicing settings",
            trigger: ".settings_tab .tab[data-key='account']",
            run: "click",
        },
        {
            content: "The Romanian block shows the one callback URL to register at ANAF",
            trigger: "#l10n_ro_anaf_efactura_settings .o_field_widget[name='l10n_ro_anaf_efactura_callback_url']:contains('/l10n_ro_anaf_efactura/callback')",
        },
        {
            content: "Core's own ANAF token block is not shown",
            trigger: "body:not(:has(#l10n_ro_edi_settings:visible))",
        },
        {
            content: "Authenticate with ANAF",
            trigger: "#l10n_ro_anaf_efactura_settings button[name='action_l10n_ro_anaf_efactura_authenticate']",
            run: "click",
            ...leavesPage,
        },
        {
            content: "Back in Odoo on the ANAF connection: connected",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Connected')",
        },
        {
            content: "The connection shows no error",
            trigger: ".o_form_view:not(:has(.alert-danger:visible))",
        },
    ],
});
