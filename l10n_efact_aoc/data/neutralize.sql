-- never talk to the real eFACT hub from a neutralized (copied) database
UPDATE einvoice_credential SET environment = 'sandbox' WHERE service = 'efact' AND environment != 'sandbox';
