/** @odoo-module */

import { registry } from "@web/core/registry";

// The main flow of an accountant: a posted demo invoice, Print & Send with the CFDI ticked,
// then the stamped state in the CFDI tab and the exchange smart button.
registry.category("web_tour.tours").add("l10n_mx_factureapp_send_and_print", {
    steps: () => [
        {
            content: "Open Print & Send",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_invoice_sent']",
            run: "click",
        },
        {
            content: "The CFDI is ticked",
            trigger: ".modal #extra_edis .form-check:contains('Stamp CFDI') input:checked",
        },
        {
            content: "Print & Send",
            trigger: ".modal footer button[name='action_send_and_print']:not(.d-none)",
            run: "click",
        },
        {
            content: "The wizard is gone",
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "Open the CFDI tab",
            trigger: ".o_form_view .o_notebook a[name='l10n_mx_factureapp']",
            run: "click",
        },
        {
            content: "The CFDI is stamped",
            trigger: ".o_form_view .o_field_widget[name='l10n_mx_factureapp_state'] .badge:contains('Stamped')",
        },
        {
            content: "The exchanges are one click away",
            trigger: ".o_form_view .oe_stat_button[name='action_einvoice_view_exchanges']",
        },
    ],
});
