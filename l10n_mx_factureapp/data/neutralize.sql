-- A copied database must never stamp or cancel real CFDI: point Facture APP connections at the sandbox.
UPDATE einvoice_credential
   SET environment = 'sandbox', base_url = NULL, l10n_mx_factureapp_sat_url = NULL
 WHERE service = 'factureapp';
