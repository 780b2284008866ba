-- A neutralized copy (staging, a duplicated database) must never reach a provider's service.
-- Every connection goes to the local sandbox with no URL, no secret and no token; the
-- transport then refuses any host but 127.0.0.1 (database.is_neutralized), whatever an
-- addon's own script forgets.
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
       access_token_expires_at = NULL,
       refresh_token = NULL,
       refresh_token_expires_at = NULL,
       state = 'draft';

-- Crons that call a service stay off (base neutralizes every cron; this survives a reactivation of base's list).
UPDATE ir_cron
   SET active = false
 WHERE ir_actions_server_id IN (
       SELECT s.id
         FROM ir_act_server s
         JOIN ir_model m ON m.id = s.model_id
        WHERE m.model LIKE 'einvoice.%'
           OR m.model LIKE 'l10n\_ro\_anaf\_efactura%'
           OR m.model LIKE 'l10n\_efact\_aoc%'
           OR m.model LIKE 'l10n\_mx\_factureapp%'
           OR m.model LIKE 'l10n\_co\_lafactura%'
);
