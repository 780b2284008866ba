/** @odoo-module */

import { registry } from "@web/core/registry";

// The accountant's main eFACT flow: a posted invoice to a Catalan public body, Print & Send with
// "Send to eFACT" ticked, then the eFACT state on the invoice.
registry.category("web_tour.tours").add("l10n_efact_aoc_send_tour", {
    steps: () => [
        {
            content: "Open Print & Send",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_invoice_sent']",
            run: "click",
        },
        {
            content: "eFACT is offered and ticked",
            trigger: ".modal div[name='extra_edi_checkboxes'] .form-check:contains('Send to eFACT') input:checked",
        },
        {
            content: "No eFACT alert before sending",
            trigger: ".modal:not(:has(.alert:contains('eFACT cannot take')))",
        },
        {
            content: "Print & Send",
            trigger: ".modal footer button[name='action_send_and_print']",
            run: "click",
        },
        {
            content: "The invoice shows its eFACT state",
            trigger: ".o_form_view button[name='action_l10n_efact_aoc_view_documents']:contains('Registered')",
        },
        {
            content: "The eFACT tab shows the hub id",
            trigger: ".o_notebook a[name='l10n_efact_aoc']",
            run: "click",
        },
        {
            content: "Hub id filled",
            trigger: ".o_notebook div[name='l10n_efact_aoc_hub_id'] span:not(:empty)",
        },
    ],
});
