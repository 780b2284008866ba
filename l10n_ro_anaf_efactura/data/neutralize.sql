-- A neutralised copy reaches no ANAF host: every ANAF connection points at the local sandbox, with its
-- base URL, secrets and tokens cleared (nothing left to authenticate with), and the crons that call ANAF stop.
UPDATE einvoice_credential
   SET environment = 'sandbox', base_url = NULL, state = 'draft', last_error = NULL,
       client_id = NULL, client_secret = NULL, username = NULL, password = NULL, secret_key = NULL,
       api_token = NULL, access_token = NULL, refresh_token = NULL,
       access_token_expires_at = NULL, refresh_token_expires_at = NULL
 WHERE service = 'anaf';
DELETE FROM einvoice_oauth_nonce
 WHERE credential_id IN (SELECT id FROM einvoice_credential WHERE service = 'anaf');
UPDATE ir_cron SET active = false
 WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = 'l10n_ro_anaf_efactura' AND model = 'ir.cron');
DELETE FROM ir_config_parameter
 WHERE key = 'einvoice.sandbox_url.anaf' AND value !~ '^http://(127\.0\.0\.1|localhost)(:[0-9]+)?(/|$)';
