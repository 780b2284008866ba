from . import (
    ro_compat,
    einvoice_credential,
    l10n_ro_anaf_efactura_document,
    l10n_ro_anaf_efactura_dispatch,
    l10n_ro_anaf_efactura_message,
    l10n_ro_anaf_efactura_settings,
    res_company,
    res_config_settings,
    account_journal,
    account_edi_xml_ubl_ro,
    account_tax,
    res_partner,
    account_move,
    account_move_send,
)

# the CIUS-RO rules of account_edi_xml_ubl_ro reach the XML through the adapter of this version's builder
if ro_compat.UBL_NODE_BUILDER:
    from . import ubl_ro_nodes
else:
    from . import ubl_ro_vals
