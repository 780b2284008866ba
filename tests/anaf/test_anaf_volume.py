"""The protocol at full volume: 200 invoices sent to ok within quotas; 700 received over 2 pages, once."""

from concurrent.futures import ThreadPoolExecutor

from anaf_support import BUYER, SELLER, make_invoice

from l10n_ro_anaf_efactura.anaf import documents


def test_200_invoices_reach_ok_with_archived_zips_within_quotas(anaf_factory):
    anaf = anaf_factory(processing_polls=2)
    invoices = {f"INV/2026/{n:05d}": make_invoice(f"INV/2026/{n:05d}", amount=f"{100 + n}.00") for n in range(200)}
    with ThreadPoolExecutor(4) as pool:
        indexes = dict(
            zip(
                invoices,
                pool.map(lambda x: anaf.client.upload(x, cif=SELLER).index, invoices.values()),
                strict=True,
            )
        )
    pending, archived, rounds = dict(indexes), {}, 0
    while pending:
        rounds += 1
        for number, index in list(pending.items()):
            status = anaf.client.message_state(index)
            if status.state == "ok":
                archived[number] = anaf.client.download(status.download_id)
                del pending[number]
    assert rounds == 3 and len(archived) == 200
    assert all(archived[n].xml == invoices[n] and archived[n].signature for n in invoices)
    assert max(v for (op, _, _), v in anaf.state.counters.items() if op == "status") <= 3
    assert max(v for (op, _, _), v in anaf.state.counters.items() if op == "download") == 1
    assert len(anaf.state.uploads) == 200  # one upload per invoice
    assert anaf.faults.calls_to("/upload", "POST") == 200


def test_700_received_over_two_pages_downloaded_once(anaf):
    start = anaf.now_ms() - 1000
    for n in range(700):
        anaf.state.add_received(
            make_invoice(f"F{n:04d}", seller=str(7000000000 + n % 3), buyer=BUYER),
            BUYER,
        )
    seen = {}
    pages = []
    page_number, total_pages = 1, 1
    while page_number <= total_pages:
        page = anaf.client.list_messages_page(start, anaf.now_ms(), BUYER, page_number, filter="P")
        pages.append(len(page.messages))
        total_pages = page.total_pages
        for message in page.messages:
            if message.id not in seen:
                seen[message.id] = anaf.client.download(message.id)
        page_number += 1
    assert pages == [500, 200]
    assert len(seen) == 700
    numbers = {documents.summarise_invoice(z.xml).number for z in seen.values()}
    assert len(numbers) == 700
    assert max(v for (op, _, _), v in anaf.state.counters.items() if op == "download") == 1
    # A second run lists again and downloads nothing new
    again = [m for m in anaf.client.iter_messages(start, anaf.now_ms(), BUYER, "P") if m.id not in seen]
    assert again == []
    assert not anaf.client.list_messages_page(start, anaf.now_ms(), SELLER, 1, filter="P").messages
