"""Tier 1: properties of the NIT helpers and of the tolerant reader."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from l10n_co_lafactura.lafactura import documents as d
from l10n_co_lafactura.lafactura import fixtures as f
from l10n_co_lafactura.lafactura import nit

bases = st.integers(min_value=10_000_000, max_value=999_999_999_999).map(str)


@given(bases)
def test_nit_every_format_denotes_the_same_party(base):
    dv = nit.check_digit(base)
    dotted = f"{int(base):,}".replace(",", ".") + f"-{dv}"
    for typed in (base, f"{base}-{dv}", dotted, f"CO{base}", f"{base}{dv}"):
        assert nit.same(f"{base}-{dv}", typed), typed
        assert base + dv in nit.candidates(typed) or base in nit.candidates(typed)
    assert nit.split(dotted) == (base, dv)


@given(bases)
def test_check_digit_detects_single_digit_changes(base):
    dv = nit.check_digit(base)
    changed = str((int(base[-1]) + 1) % 10)
    assert nit.check_digit(base[:-1] + changed) != dv


line = st.tuples(
    st.text(alphabet="abcdefghij ÁÉñ", min_size=1, max_size=12).map(str.strip).filter(bool),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=1, max_value=10_000_000).map(lambda c: f"{c / 100:.2f}"),
    st.sampled_from([("01", 19), ("01", 5), ("01", 0), ("04", 8), (None, 0)]),
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(line, min_size=1, max_size=6),
    st.sampled_from(f.DIALECTS),
    st.sampled_from(["fc", "nc", "nd"]),
)
def test_reader_reads_back_what_any_dialect_wrote(lines, dialect, kind):
    rows = tuple((desc, qty, price, tax[0], tax[1]) for desc, qty, price, tax in lines)
    doc = f.make_document(kind, "P1", lines=rows, dialect=dialect)
    ubl = d.parse_ubl(doc["general"]["json"])
    assert [(line.description, line.quantity, line.price_unit) for line in ubl.lines] == [
        (desc, Decimal(qty), Decimal(price)) for desc, qty, price, _, _ in rows
    ]
    assert d.compare_totals(doc["totals"], ubl.totals) == []
    assert sum(line.subtotal for line in ubl.lines) == Decimal(ubl.totals["LineExtensionAmount"])
