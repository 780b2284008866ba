-- A neutralized copy must never talk to a provider's production service.
UPDATE einvoice_credential
   SET environment = 'sandbox', access_token = NULL, refresh_token = NULL, state = 'draft'
 WHERE environment = 'production';
