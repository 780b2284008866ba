-- A neutralised copy never talks to ANAF's production host nor uses its tokens.
UPDATE einvoice_credential
   SET environment = 'test', access_token = NULL, refresh_token = NULL, state = 'draft'
 WHERE service = 'anaf' AND environment = 'production';
UPDATE ir_cron SET active = false
 WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = 'l10n_ro_anaf_efactura' AND model = 'ir.cron');
