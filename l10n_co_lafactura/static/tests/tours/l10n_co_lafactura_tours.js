/** @odoo-module */

import { registry } from "@web/core/registry";

// A document LaFactura.co delivered to the webhook becomes a bill: the accountant opens Invoicing,
// finds the inbox next to vendor bills, opens the delivery, then its posted bill.
registry.category("web_tour.tours").add("l10n_co_lafactura_inbox_to_bill", {
    steps: () => [
        {
            content: "Open the apps menu",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "Open Invoicing",
            trigger: ".dropdown-menu .o_app[data-menu-xmlid='account.menu_finance']",
            run: "click",
        },
        {
            content: "Open the Vendors menu of Invoicing",
            trigger: ".o_main_navbar button:contains(Vendors)",
            run: "click",
        },
        {
            content: "The LaFactura.co inbox sits next to the bills",
            trigger: ".dropdown-menu a:contains(LaFactura.co inbox)",
            run: "click",
        },
        {
            content: "The delivery is listed as processed",
            trigger: ".o_list_view .o_data_row:contains(FE-TOUR-1):contains(Processed)",
        },
        {
            content: "Open it",
            trigger: ".o_list_view .o_data_row td[name=number]:contains(FE-TOUR-1)",
            run: "click",
        },
        {
            content: "Open its bill",
            trigger: ".o_form_view .o_field_widget[name=move_id] a.o_form_uri",
            run: "click",
        },
        {
            content: "The bill is posted",
            trigger: ".o_form_view .o_statusbar_status .o_arrow_button_current:contains(Posted)",
        },
        {
            content: "The chatter says where it came from",
            trigger: ".o-mail-Message-body:contains(From LaFactura.co):contains(FE-TOUR-1)",
        },
    ],
});

// A billing user opens the LaFactura.co connection: no webhook URL, no credentials.
registry.category("web_tour.tours").add("l10n_co_lafactura_billing_sees_no_secret", {
    steps: () => [
        {
            content: "The connection form is open",
            trigger: ".o_form_view .o_notebook a:contains(LaFactura.co)",
            run: "click",
        },
        {
            content: "Its booking settings are readable",
            trigger: ".o_form_view .o_field_widget[name=l10n_co_lafactura_auto_post]",
        },
        {
            content: "No webhook URL, no user, password or token anywhere on the form",
            trigger:
                ".o_form_view:not(:has([name=l10n_co_lafactura_webhook_url])):not(:has([name=password]))" +
                ":not(:has([name=username])):not(:has([name=access_token])):not(:has(.o_field_CopyClipboardChar))",
        },
    ],
});
