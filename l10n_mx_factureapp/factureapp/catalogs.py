"""SAT catalogs (c_*) needed to validate fiscal data before anything is built.

The small catalogs are listed here with their Spanish labels (they feed Odoo
selections). The large ones (c_ClaveProdServ, c_ClaveUnidad, c_CodigoPostal,
c_Moneda, c_Pais) are read once, lazily, from the shipped official
`schemas/cfd/catalogos/catCFDI.xsd`, so there is one source of truth.
"""

import os
import re
import threading

SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas", "cfd")
CATALOG_XSD = os.path.join(SCHEMAS, "catalogos", "catCFDI.xsd")

REGIMEN_FISCAL = [
    ("601", "General de Ley Personas Morales"),
    ("603", "Personas Morales con Fines no Lucrativos"),
    ("605", "Sueldos y Salarios e Ingresos Asimilados a Salarios"),
    ("606", "Arrendamiento"),
    ("607", "Régimen de Enajenación o Adquisición de Bienes"),
    ("608", "Demás ingresos"),
    ("610", "Residentes en el Extranjero sin Establecimiento Permanente en México"),
    ("611", "Ingresos por Dividendos (socios y accionistas)"),
    ("612", "Personas Físicas con Actividades Empresariales y Profesionales"),
    ("614", "Ingresos por intereses"),
    ("615", "Régimen de los ingresos por obtención de premios"),
    ("616", "Sin obligaciones fiscales"),
    ("620", "Sociedades Cooperativas de Producción que optan por diferir sus ingresos"),
    ("621", "Incorporación Fiscal"),
    ("622", "Actividades Agrícolas, Ganaderas, Silvícolas y Pesqueras"),
    ("623", "Opcional para Grupos de Sociedades"),
    ("624", "Coordinados"),
    (
        "625",
        "Régimen de las Actividades Empresariales con ingresos a través de Plataformas Tecnológicas",
    ),
    ("626", "Régimen Simplificado de Confianza"),
]
# Regimes a legal person (RFC of 12 characters) may hold; the others are for individuals (13).
REGIMEN_MORAL = {
    "601",
    "603",
    "607",
    "609",
    "610",
    "620",
    "622",
    "623",
    "624",
    "626",
    "628",
}
REGIMEN_FISICA = {
    "605",
    "606",
    "607",
    "608",
    "610",
    "611",
    "612",
    "614",
    "615",
    "616",
    "621",
    "622",
    "625",
    "626",
}

USO_CFDI = [
    ("G01", "Adquisición de mercancías"),
    ("G02", "Devoluciones, descuentos o bonificaciones"),
    ("G03", "Gastos en general"),
    ("I01", "Construcciones"),
    ("I02", "Mobiliario y equipo de oficina por inversiones"),
    ("I03", "Equipo de transporte"),
    ("I04", "Equipo de computo y accesorios"),
    ("I05", "Dados, troqueles, moldes, matrices y herramental"),
    ("I06", "Comunicaciones telefónicas"),
    ("I07", "Comunicaciones satelitales"),
    ("I08", "Otra maquinaria y equipo"),
    ("D01", "Honorarios médicos, dentales y gastos hospitalarios"),
    ("D02", "Gastos médicos por incapacidad o discapacidad"),
    ("D03", "Gastos funerales"),
    ("D04", "Donativos"),
    ("D05", "Intereses reales pagados por créditos hipotecarios (casa habitación)"),
    ("D06", "Aportaciones voluntarias al SAR"),
    ("D07", "Primas por seguros de gastos médicos"),
    ("D08", "Gastos de transportación escolar obligatoria"),
    (
        "D09",
        "Depósitos en cuentas para el ahorro, primas que tengan como base planes de pensiones",
    ),
    ("D10", "Pagos por servicios educativos (colegiaturas)"),
    ("S01", "Sin efectos fiscales"),
    ("CP01", "Pagos"),
    ("CN01", "Nómina"),
]
# UsoCFDI values only an individual (persona física) may use.
USO_ONLY_FISICA = {
    "D01",
    "D02",
    "D03",
    "D04",
    "D05",
    "D06",
    "D07",
    "D08",
    "D09",
    "D10",
    "CN01",
}

FORMA_PAGO = [
    ("01", "Efectivo"),
    ("02", "Cheque nominativo"),
    ("03", "Transferencia electrónica de fondos"),
    ("04", "Tarjeta de crédito"),
    ("05", "Monedero electrónico"),
    ("06", "Dinero electrónico"),
    ("08", "Vales de despensa"),
    ("12", "Dación en pago"),
    ("13", "Pago por subrogación"),
    ("14", "Pago por consignación"),
    ("15", "Condonación"),
    ("17", "Compensación"),
    ("23", "Novación"),
    ("24", "Confusión"),
    ("25", "Remisión de deuda"),
    ("26", "Prescripción o caducidad"),
    ("27", "A satisfacción del acreedor"),
    ("28", "Tarjeta de débito"),
    ("29", "Tarjeta de servicios"),
    ("30", "Aplicación de anticipos"),
    ("31", "Intermediario pagos"),
    ("99", "Por definir"),
]
METODO_PAGO = [
    ("PUE", "Pago en una sola exhibición"),
    ("PPD", "Pago en parcialidades o diferido"),
]
EXPORTACION = [
    ("01", "No aplica"),
    ("02", "Definitiva con clave A1"),
    ("03", "Temporal"),
    ("04", "Definitiva con clave distinta a A1"),
]
OBJETO_IMP = [
    ("01", "No objeto de impuesto"),
    ("02", "Sí objeto de impuesto"),
    ("03", "Sí objeto del impuesto y no obligado al desglose"),
    ("04", "Sí objeto del impuesto y no causa impuesto"),
    ("05", "Sí objeto del impuesto, IVA crédito PODEBI"),
    ("06", "Sí objeto del IVA, No traslado IVA"),
    ("07", "No traslado del IVA, Sí desglose IEPS"),
    ("08", "No traslado del IVA, No desglose IEPS"),
]
PERIODICIDAD = [
    ("01", "Diario"),
    ("02", "Semanal"),
    ("03", "Quincenal"),
    ("04", "Mensual"),
    ("05", "Bimestral"),
]
MOTIVO_CANCELACION = [
    ("01", "Comprobante emitido con errores con relación"),
    ("02", "Comprobante emitido con errores sin relación"),
    ("03", "No se llevó a cabo la operación"),
    ("04", "Operación nominativa relacionada en una factura global"),
]
TIPO_RELACION = [
    ("01", "Nota de crédito de los documentos relacionados"),
    ("02", "Nota de débito de los documentos relacionados"),
    ("03", "Devolución de mercancía sobre facturas o traslados previos"),
    ("04", "Sustitución de los CFDI previos"),
    ("05", "Traslados de mercancías facturados previamente"),
    ("06", "Factura generada por los traslados previos"),
    ("07", "CFDI por aplicación de anticipo"),
]

# Decimals per currency (c_Moneda "Decimales"); every currency not listed uses 2.
CURRENCY_DECIMALS = {
    **{
        c: 0
        for c in (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
            "XAG",
            "XAU",
            "XBA",
            "XBB",
            "XBC",
            "XBD",
            "XDR",
            "XPD",
            "XPT",
            "XSU",
            "XTS",
            "XUA",
            "XXX",
            "MGA",
        )
    },
    **{c: 3 for c in ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")},
    "CLF": 4,
}
# c_Moneda gives XXX 0 decimals; in the payments complement amounts are in MXN with 2.

RFC_PATTERN = re.compile(r"^[A-Z&Ñ]{3,4}[0-9]{2}(0[1-9]|1[012])(0[1-9]|[12][0-9]|3[01])[A-Z0-9]{2}[0-9A]$")
RFC_GENERIC_NATIONAL = "XAXX010101000"
RFC_GENERIC_FOREIGN = "XEXX010101000"
PUBLICO_EN_GENERAL = "PUBLICO EN GENERAL"

_cache = {}
_lock = threading.Lock()


def currency_decimals(code):
    return CURRENCY_DECIMALS.get((code or "").upper(), 2)


def rfc_is_valid(rfc):
    return bool(rfc) and bool(RFC_PATTERN.match(rfc))


def rfc_person_type(rfc):
    """'moral' (12 characters), 'fisica' (13), 'generic' for XAXX/XEXX, None when invalid."""
    if rfc in (RFC_GENERIC_NATIONAL, RFC_GENERIC_FOREIGN):
        return "generic"
    if not rfc_is_valid(rfc):
        return None
    return "moral" if len(rfc) == 12 else "fisica"


def values(catalog):
    """The set of codes of a catalog of catCFDI.xsd (e.g. 'c_ClaveProdServ'), read once."""
    with _lock:
        if catalog not in _cache:
            _cache.update(_read_catalogs(CATALOG_XSD, {catalog}))
        return _cache[catalog]


def _read_catalogs(path, wanted):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    found = {}
    for name in wanted:
        start = text.find(f'<xs:simpleType name="{name}">')
        if start < 0:
            raise KeyError(name)
        end = text.find("</xs:simpleType>", start)
        found[name] = frozenset(re.findall(r'<xs:enumeration value="([^"]*)"', text[start:end]))
    return found


def is_known(catalog, code):
    return code in values(catalog)


# Time zone of a place of issue (LugarExpedicion) from its postal code. SAT's c_CodigoPostal
# carries the zone's UTC offsets per code; the addon does not ship that column, so this is
# the coarse map by the ranges of each state (the first digits), plus the northern border
# cities that follow the US daylight-saving calendar. A branch's own zone always wins.
POSTAL_ZONES = [
    (("21", "22"), "America/Tijuana"),  # Baja California
    (("23", "80", "81", "82", "63"), "America/Mazatlan"),  # Baja California Sur, Sinaloa, Nayarit
    (("6373",), "America/Bahia_Banderas"),  # Bahía de Banderas (Nayarit) keeps central time
    (("83", "84", "85"), "America/Hermosillo"),  # Sonora
    (("32",), "America/Ciudad_Juarez"),  # Ciudad Juárez
    (("31", "33"), "America/Chihuahua"),  # rest of Chihuahua
    (("77",), "America/Cancun"),  # Quintana Roo
    (("873", "874", "880", "881", "882", "885", "886", "887", "260", "262"), "America/Matamoros"),  # border strip
]
DEFAULT_ZONE = "America/Mexico_City"


def postal_code_tz(postal_code):
    """IANA time zone of a Mexican postal code (longest matching prefix; central time otherwise)."""
    code = (postal_code or "").strip()
    best, zone = 0, DEFAULT_ZONE
    for prefixes, name in POSTAL_ZONES:
        for prefix in prefixes:
            if code.startswith(prefix) and len(prefix) > best:
                best, zone = len(prefix), name
    return zone
