-- A neutralized copy (staging, a duplicated database) must reach no LaFactura.co host,
-- book nothing and accept no hook: whatever the environment (einvoice_common's script may
-- already have switched production to sandbox), drop the URL, the API user and password,
-- every token and the webhook secret, and stop the processing cron.
UPDATE einvoice_credential
   SET environment = 'sandbox',
       base_url = NULL,
       username = NULL,
       password = NULL,
       client_id = NULL,
       client_secret = NULL,
       secret_key = NULL,
       api_token = NULL,
       access_token = NULL,
       refresh_token = NULL,
       l10n_co_lafactura_webhook_secret = NULL,
       state = 'draft'
 WHERE service = 'lafactura';
UPDATE ir_cron
   SET active = FALSE
 WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = 'l10n_co_lafactura' AND model = 'ir.cron');
