from . import (
    einvoice_credential,
    l10n_ro_anaf_efactura_quota,
    l10n_ro_anaf_efactura_document,
    l10n_ro_anaf_efactura_message,
    res_company,
    res_config_settings,
    account_journal,
    account_edi_xml_ubl_ro,
    account_tax,
    res_partner,
    account_move,
    account_move_send,
)
