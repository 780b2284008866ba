-- A copied database must not book documents nor receive LaFactura.co's hook.
UPDATE einvoice_credential
   SET environment = 'test',
       l10n_co_lafactura_webhook_secret = NULL
 WHERE service = 'lafactura' AND environment = 'production';
