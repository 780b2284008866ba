"""VAT categories (UNCL5305) and exemption reasons (CEF VATEX) as CIUS-RO/EN 16931 wants them. Pure.

`resolve` decides the category of one tax on one invoice from what the accountant set (on the tax,
then on the fiscal position) and, when nothing is set, from the tax rate alone. `check_breakdown`
is the pre-upload check of the EN 16931 category rules (BR-AE/E/G/IC/O/S/Z), which ANAF applies
but the CIUS-RO stylesheet does not contain.
"""

from dataclasses import dataclass

CATEGORIES = [
    ("S", "S - Standard rate"),
    ("Z", "Z - Zero rated goods"),
    ("E", "E - Exempt from tax"),
    ("AE", "AE - Reverse charge"),
    ("K", "K - Intra-community supply of goods (VAT exempt)"),
    ("G", "G - Export outside the EU (VAT not charged)"),
    ("O", "O - Not subject to VAT (outside the scope)"),
]

# CEF VATEX code list (the codes EN 16931 accepts in BT-121)
_ARTICLES = {
    "132": "ABCDEFGHIJKLMNOPQ",
    "143": ["A", "B", "C", "D", "E", "F", "FA", "G", "H", "I", "J", "K", "L"],
    "148": "ABCDEFG",
    "151": ["A", "AA", "B", "C", "D", "E"],
}
VATEX_CODES = [("VATEX-EU-79-C", "Exempt based on article 79, point c of Council Directive 2006/112/EC")]
for _article, _points in _ARTICLES.items():
    VATEX_CODES.append((f"VATEX-EU-{_article}", f"Exempt based on article {_article} of Council Directive 2006/112/EC"))
    _sep = "-" if _article == "148" else "-1"
    for _point in _points:
        _section = f"({_point.lower()})" if _article == "148" else f"1 ({_point.lower()})"
        VATEX_CODES.append(
            (
                f"VATEX-EU-{_article}{_sep}{_point}",
                f"Exempt based on article {_article}, section {_section} of Council Directive 2006/112/EC",
            )
        )
VATEX_CODES += [
    ("VATEX-EU-309", "Exempt based on article 309 of Council Directive 2006/112/EC"),
    ("VATEX-EU-AE", "Reverse charge"),
    ("VATEX-EU-D", "Intra-Community acquisition from second hand means of transport"),
    ("VATEX-EU-F", "Intra-Community acquisition of second hand goods"),
    ("VATEX-EU-G", "Export outside the EU"),
    ("VATEX-EU-I", "Intra-Community acquisition of works of art"),
    ("VATEX-EU-IC", "Intra-Community supply"),
    ("VATEX-EU-J", "Intra-Community acquisition of collectors items and antiques"),
    ("VATEX-EU-O", "Not subject to VAT"),
]
VATEX_LABELS = dict(VATEX_CODES)

# The one code a category implies (E has none: the accountant names the exemption)
DEFAULT_VATEX = {"AE": "VATEX-EU-AE", "K": "VATEX-EU-IC", "G": "VATEX-EU-G", "O": "VATEX-EU-O"}
# Romanian texts printed when the accountant wrote none (the legal mention on the invoice)
DEFAULT_REASON = {
    "AE": "Taxare inversă",
    "K": "Livrare intracomunitară scutită (art. 294 alin. (2) Cod fiscal)",
    "G": "Export scutit (art. 294 alin. (1) Cod fiscal)",
    "O": "Operațiune neimpozabilă în România",
}
NEEDS_REASON = {"E", "AE", "K", "G", "O"}
MAX_REASON = 100  # CIUS-RO length of BT-120

# Defaults for the Romanian chart's taxes (l10n_ro, template xml ids): (category, VATEX, reason)
RO_CHART_DEFAULTS = {
    "tvati": ("AE", "VATEX-EU-AE", "Taxare inversă (art. 331 Cod fiscal)"),
    "tvati_intrab": ("K", "VATEX-EU-IC", "Livrare intracomunitară scutită (art. 294 alin. (2) lit. a) Cod fiscal)"),
    "tvati_intras": (
        "AE",
        "VATEX-EU-AE",
        "Taxare inversă (art. 278 alin. (2) Cod fiscal, art. 196 Directiva 2006/112/CE)",
    ),
    "tvati_extra": ("G", "VATEX-EU-G", "Export scutit (art. 294 alin. (1) lit. a) Cod fiscal)"),
    "tvati_extras": ("O", "VATEX-EU-O", "Prestare neimpozabilă în România (art. 278 alin. (2) Cod fiscal)"),
    "tvatine": ("O", "VATEX-EU-O", "Operațiune neimpozabilă în România"),
    "tvatiscded": ("E", "", "Scutit cu drept de deducere (art. 294 Cod fiscal)"),
    "tvatiscnoded": ("E", "", "Scutit fără drept de deducere (art. 292 Cod fiscal)"),
    # self-billing (autofactura) of reverse-charge purchases: the supplier's sale is reverse charge
    "tvatip00": ("AE", "VATEX-EU-AE", "Taxare inversă (art. 331 Cod fiscal)"),
    "tvatip05": ("AE", "VATEX-EU-AE", "Taxare inversă (art. 331 Cod fiscal)"),
    "tvatip09": ("AE", "VATEX-EU-AE", "Taxare inversă (art. 331 Cod fiscal)"),
    "tvatip19": ("AE", "VATEX-EU-AE", "Taxare inversă (art. 331 Cod fiscal)"),
    # the rates of August 2025 (Law 141/2025), in charts that have them (Odoo 19.0's)
    "tvatip11": ("AE", "VATEX-EU-AE", "Taxare inversă (art. 331 Cod fiscal)"),
    "tvatip21": ("AE", "VATEX-EU-AE", "Taxare inversă (art. 331 Cod fiscal)"),
}


@dataclass
class Category:
    code: str
    vatex: str = ""
    reason: str = ""
    percent: object = None  # None: no BT-119/BT-152 at all (category O)


@dataclass
class Setting:
    """What the accountant set on a tax or a fiscal position (empty strings when nothing)."""

    category: str = ""
    vatex: str = ""
    reason: str = ""


def resolve(rate, tax_setting, position_setting=None):
    """The category of a tax of `rate` %: the tax's own setting, then the fiscal position's, then
    S for a non-zero rate. A 0 % tax with nothing set is E without a reason: `check_breakdown`
    refuses it before upload, naming the tax to configure."""
    for setting in (tax_setting, position_setting):
        if setting and setting.category:
            code = setting.category
            vatex = setting.vatex or DEFAULT_VATEX.get(code, "")
            reason = setting.reason or DEFAULT_REASON.get(code, "")
            if code in ("S", "Z"):
                vatex = reason = ""
            percent = None if code == "O" else (rate if code == "S" else 0.0)
            return Category(code, vatex, reason, percent)
    if rate:
        return Category("S", percent=rate)
    return Category("E", percent=0.0)
