from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from .. import dbtools
from . import odoo_compat  # noqa: F401  (Odoo 19 test harness)


@tagged("post_install", "-at_install")
class TestCreateBatch(TransactionCase):
    """dbtools.create_batch: one create for the batch; a bad document alone fails, the others land."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.company
        cls.journal = cls.env["account.journal"].search(
            [("type", "=", "general"), ("company_id", "=", company.id)], limit=1
        )
        cls.account = cls.env["account.account"].search([("company_ids", "in", company.id)], limit=1)
        cls.Move = cls.env["account.move"]

    def _entry(self, ref, debit=10.0, credit=10.0):
        return {
            "move_type": "entry",
            "journal_id": self.journal.id,
            "ref": ref,
            "line_ids": [
                Command.create({"account_id": self.account.id, "debit": debit}),
                Command.create({"account_id": self.account.id, "credit": credit}),
            ],
        }

    def _count(self, refs):
        return self.Move.search_count([("ref", "in", refs)])

    def test_a_good_batch_is_one_create_and_one_after_call(self):
        calls = []
        refs = ["cb-good-1", "cb-good-2", "cb-good-3"]
        results = dbtools.create_batch(
            self.Move, [self._entry(ref) for ref in refs], after=lambda recs, pos: calls.append((recs, pos))
        )
        self.assertEqual([r.error for r in results], [None, None, None])
        self.assertEqual([r.record.ref for r in results], refs)
        self.assertEqual(len(calls), 1, "the batch is created and handed over at once")
        self.assertEqual(calls[0][1], [0, 1, 2])
        self.assertEqual(calls[0][0].mapped("ref"), refs)

    def test_a_bad_document_alone_fails_and_the_others_land(self):
        refs = ["cb-mix-1", "cb-mix-2", "cb-mix-3"]
        vals = [self._entry(refs[0]), self._entry(refs[1], credit=7.0), self._entry(refs[2])]  # 2nd unbalanced
        results = dbtools.create_batch(self.Move, vals)
        self.assertFalse(results[0].error)
        self.assertIsInstance(results[1].error, UserError)
        self.assertIn("not balanced", str(results[1].error.args[0]))
        self.assertFalse(results[1].record)
        self.assertFalse(results[2].error)
        self.assertEqual([results[0].record.ref, results[2].record.ref], [refs[0], refs[2]])
        self.assertEqual(self._count(refs), 2, "the failed batch left nothing behind; the good ones were redone")

    def test_an_error_in_after_fails_its_record_only(self):
        refs = ["cb-after-1", "cb-after-2", "cb-after-3"]
        seen = []

        def after(records, positions):
            seen.append(positions)
            records.write({"narration": "checked"})  # undone with the failed batch, redone per record
            if 1 in positions:
                message = "refused by the caller"
                raise UserError(message)

        results = dbtools.create_batch(self.Move, [self._entry(ref) for ref in refs], after=after)
        self.assertEqual(seen, [[0, 1, 2], [0], [1], [2]], "the batch first, then one by one")
        self.assertEqual(str(results[1].error.args[0]), "refused by the caller")
        self.assertEqual(self._count(refs), 2)
        self.assertEqual(self.Move.search([("ref", "in", refs)]).mapped("narration"), ["<p>checked</p>"] * 2)

    def test_an_unexpected_error_propagates_and_creates_nothing(self):
        refs = ["cb-raise-1", "cb-raise-2"]
        with self.assertRaises(UserError):
            dbtools.create_batch(self.Move, [self._entry(refs[0]), self._entry(refs[1], credit=1.0)], errors=())
        self.assertEqual(self._count(refs), 0)

    def test_nothing_to_create(self):
        self.assertEqual(dbtools.create_batch(self.Move, []), [])
