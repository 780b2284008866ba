-- A neutralized copy (staging, test restore) never stamps, cancels or looks up a real CFDI:
-- Facture APP connections lose their hosts and secrets and point at nothing until an
-- administrator enters a sandbox URL; the jobs that call Facture APP or SAT are switched off.
UPDATE einvoice_credential
   SET environment = 'sandbox',
       base_url = NULL,
       l10n_mx_factureapp_sat_url = NULL,
       username = NULL,
       password = NULL,
       api_token = NULL,
       access_token = NULL,
       refresh_token = NULL,
       state = 'draft'
 WHERE service = 'factureapp';
UPDATE ir_cron
   SET active = FALSE
 WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = 'l10n_mx_factureapp' AND model = 'ir.cron');
