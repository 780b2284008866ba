-- A neutralized (copied) database must reach no eFACT host: no stored URL (the sandbox URL comes from
-- the system parameter einvoice.sandbox_url.efact, loopback), no user, secret or token, and no cron that
-- calls the hub (sending states, pulling invoices, reporting states would act on real invoices).
UPDATE einvoice_credential
   SET environment = 'sandbox', base_url = NULL, username = NULL, password = NULL, secret_key = NULL,
       client_secret = NULL, api_token = NULL, access_token = NULL, refresh_token = NULL, state = 'draft'
 WHERE service = 'efact';
UPDATE ir_cron
   SET active = FALSE
 WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = 'l10n_efact_aoc' AND model = 'ir.cron');
