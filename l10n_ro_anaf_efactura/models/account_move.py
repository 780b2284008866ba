from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import plaintext2html

from odoo.addons.einvoice_common import compat

from ..anaf import deadline as anaf_deadline
from ..anaf import documents
from .l10n_ro_anaf_efactura_dispatch import QUEUE_KEY
from .l10n_ro_anaf_efactura_document import LIVE_STATES, MOVE_STATES, _move_state


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "einvoice.exchange.mixin"]

    l10n_ro_anaf_efactura_document_ids = fields.One2many(
        "l10n_ro_anaf_efactura.document",
        "move_id",
        string="ANAF submissions",
        copy=False,
    )
    # Computed, not stored: attempts are written on the sending engine's own cursor, which must never have to
    # lock the invoice row the caller's transaction (Send & Print) may hold.
    l10n_ro_anaf_efactura_state = fields.Selection(
        MOVE_STATES,
        string="ANAF e-Factura",
        compute="_compute_l10n_ro_anaf_efactura_state",
        search="_search_l10n_ro_anaf_efactura_state",
        help="Waiting for ANAF: queued, sent as soon as ANAF (or the connection) answers. Sent: ANAF is processing "
        "it. Accepted: ANAF validated and signed it. Rejected: fix the errors and send a new invoice.",
    )
    l10n_ro_anaf_efactura_index = fields.Char(
        "ANAF upload index",
        compute="_compute_l10n_ro_anaf_efactura_state",
        search="_search_l10n_ro_anaf_efactura_index",
    )
    l10n_ro_anaf_efactura_download_id = fields.Char("ANAF download id", copy=False, readonly=True, index=True)
    l10n_ro_anaf_efactura_message = fields.Text(compute="_compute_l10n_ro_anaf_efactura_state")
    l10n_ro_anaf_efactura_self_billed = fields.Boolean(
        "Self-billed (autofactura)",
        compute="_compute_l10n_ro_anaf_efactura_self_billed",
        help="A vendor bill of a self-billing journal: issued by the company on the supplier's behalf and sent "
        "to ANAF as a self-invoice (type 389, autofactura=DA).",
    )
    l10n_ro_anaf_efactura_deadline = fields.Date(
        "e-Factura deadline",
        compute="_compute_l10n_ro_anaf_efactura_deadline",
        help="5 working days after the invoice date: the legal limit to transmit it to ANAF.",
    )

    compat.sql_constraints(
        locals(),
        [
            (
                "l10n_ro_anaf_efactura_download_unique",
                "unique(company_id, l10n_ro_anaf_efactura_download_id)",
                "A document received from ANAF exists once per company.",
            ),
        ],
    )

    @api.depends(
        "l10n_ro_anaf_efactura_document_ids.state",
        "l10n_ro_anaf_efactura_document_ids.anaf_result",
        "l10n_ro_anaf_efactura_document_ids.message",
        "l10n_ro_anaf_efactura_document_ids.index",
    )
    def _compute_l10n_ro_anaf_efactura_state(self):
        for move in self:
            documents_ = move.sudo().l10n_ro_anaf_efactura_document_ids.sorted("id", reverse=True)
            document = documents_[:1]
            move.l10n_ro_anaf_efactura_state = document.move_state or False
            # one message: what it waits for (or what to fix); while the outcome is being confirmed, when it is checked
            move.l10n_ro_anaf_efactura_message = (
                (document.einvoice_attempt_status if document.state in ("sending", "unknown") else False)
                or document.message
                or False
            )
            move.l10n_ro_anaf_efactura_index = documents_.filtered("index")[:1].index or False

    def _search_l10n_ro_anaf_efactura_state(self, operator, value):
        """Moves whose latest attempt is in the given ANAF state(s)."""
        if operator not in ("=", "!=", "in", "not in"):
            raise UserError(_("Unsupported search on the ANAF e-Factura state."))
        # 19.0 passes the values of "in" as an OrderedSet
        wanted = {value} if isinstance(value, (str, bool)) or value is None else set(value)
        self.env["l10n_ro_anaf_efactura.document"].flush_model()
        self.env.cr.execute(
            """SELECT DISTINCT ON (move_id) move_id, state, anaf_result
                 FROM l10n_ro_anaf_efactura_document ORDER BY move_id, id DESC"""
        )
        ids = [move_id for move_id, state, result in self.env.cr.fetchall() if _move_state(state, result) in wanted]
        positive = operator in ("=", "in")
        if False in wanted:  # "no ANAF state": moves without attempts
            self.env.cr.execute("SELECT DISTINCT move_id FROM l10n_ro_anaf_efactura_document")
            with_attempts = [row[0] for row in self.env.cr.fetchall()]
            return (
                [("id", "not in" if positive else "in", with_attempts)]
                if not ids
                else (
                    ["|", ("id", "in", ids), ("id", "not in", with_attempts)]
                    if positive
                    else ["&", ("id", "not in", ids), ("id", "in", with_attempts)]
                )
            )
        return [("id", "in" if positive else "not in", ids)]

    def _search_l10n_ro_anaf_efactura_index(self, operator, value):
        return [("l10n_ro_anaf_efactura_document_ids.index", operator, value)]

    @api.depends("move_type", "journal_id.l10n_ro_anaf_efactura_self_billing")
    def _compute_l10n_ro_anaf_efactura_self_billed(self):
        for move in self:
            move.l10n_ro_anaf_efactura_self_billed = move._l10n_ro_anaf_efactura_is_self_billed()

    @api.depends("invoice_date", "move_type", "journal_id.l10n_ro_anaf_efactura_self_billing")
    def _compute_l10n_ro_anaf_efactura_deadline(self):
        for move in self:
            move.l10n_ro_anaf_efactura_deadline = (
                anaf_deadline.deadline(move.invoice_date)
                if move.invoice_date
                and (move.move_type in ("out_invoice", "out_refund") or move._l10n_ro_anaf_efactura_is_self_billed())
                else False
            )

    @api.depends("l10n_ro_anaf_efactura_state")
    def _compute_show_reset_to_draft_button(self):
        # EXTENDS 'account': an invoice ANAF has (or may have) must be corrected by a credit note.
        res = super()._compute_show_reset_to_draft_button()
        for move in self:
            if move.l10n_ro_anaf_efactura_state in LIVE_STATES + ("ok",):
                move.show_reset_to_draft_button = False
        return res

    def button_draft(self):
        # EXTENDS 'account'
        for move in self:
            if move.l10n_ro_anaf_efactura_state in LIVE_STATES + ("ok",):
                raise UserError(
                    _(
                        "%(move)s was sent to ANAF: correct it with a credit note.",
                        move=move.name,
                    )
                )
        return super().button_draft()

    # -- helpers ------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_post(self, body, attachment_ids=None):
        """A note in the chatter. Without attachments it is logged (`_message_log`: no followers to compute,
        no notification to send, a tenth of message_post's work for each of ANAF's answers)."""
        self.ensure_one()
        if attachment_ids:
            self.with_context(no_new_invoice=True).message_post(body=body, attachment_ids=attachment_ids)
        else:
            self._message_log(body=plaintext2html(body))

    def _l10n_ro_anaf_efactura_rejected(self, document):
        """ANAF's errors on the invoice and an activity for the person in charge."""
        self.ensure_one()
        errors = document.anaf_errors or document.message or ""
        # no attachment here: posting one may write the invoice's main attachment from the sending cursor
        self._l10n_ro_anaf_efactura_post(_("ANAF rejected the e-Factura:\n%(errors)s", errors=errors))
        self.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=_("e-Factura rejected by ANAF"),
            note=_(
                "Fix the errors listed by ANAF, then send a corrected invoice: %(errors)s",
                errors=errors,
            ),
            user_id=(self.invoice_user_id or self.create_uid or self.env.user).id,
        )

    def _l10n_ro_anaf_efactura_is_self_billed(self):
        """A vendor bill the company issues on behalf of its supplier (self-billing journal)."""
        self.ensure_one()
        return self.move_type in ("in_invoice", "in_refund") and bool(
            self.journal_id.l10n_ro_anaf_efactura_self_billing
        )

    def _l10n_ro_anaf_efactura_is_candidate(self):
        self.ensure_one()
        return (
            (self.move_type in ("out_invoice", "out_refund") or self._l10n_ro_anaf_efactura_is_self_billed())
            and self.state == "posted"
            and self.company_id.account_fiscal_country_id.code == "RO"
            and self.l10n_ro_anaf_efactura_state not in LIVE_STATES + ("ok",)
            and self.l10n_ro_edi_state not in ("invoice_sent", "invoice_validated")
        )

    def _l10n_ro_anaf_efactura_build(self):
        """(xml bytes, problems): Odoo's CIUS-RO builder, then our CIUS-RO checks naming the field to fix."""
        self.ensure_one()
        xml, build_errors = self.env["account.edi.xml.ubl_ro"]._export_invoice(self)
        problems = list(build_errors or [])
        if not problems:
            problems += [
                _(
                    "%(field)s: %(message)s [%(rule)s]",
                    field=p.field,
                    message=p.message,
                    rule=p.rule,
                )
                for p in documents.preflight(xml)
            ]
        return xml, problems

    def _l10n_ro_anaf_efactura_upload_options(self):
        self.ensure_one()
        partner = self.commercial_partner_id
        if self._l10n_ro_anaf_efactura_is_self_billed():
            # we are the buyer uploading on the supplier's behalf: the buyer (us) is neither foreign nor a person
            return {
                "standard": "CN" if self.move_type == "in_refund" else "UBL",
                "b2c": False,
                "extern": False,
                "autofactura": True,
            }
        return {
            "standard": "CN" if self.move_type == "out_refund" else "UBL",
            "b2c": partner._l10n_ro_anaf_efactura_is_individual(),
            "extern": bool(partner.country_id) and partner.country_id.code != "RO",
            "autofactura": False,
        }

    def _l10n_ro_anaf_efactura_send(self, queue=False):
        """Start one attempt per invoice (einvoice.attempt: intent committed, one live attempt per invoice,
        answers committed at once); with `queue`, the send cron uploads them (triggered now) and the request
        does not wait. Returns the send contract {move: [errors]} (never raises)."""
        Credential = self.env["einvoice.credential"]
        Document = self.env["l10n_ro_anaf_efactura.document"]
        errors, values_list = {}, []
        for move in self:
            credential = Credential._l10n_ro_anaf_efactura_for_company(move.company_id)
            if not credential:
                errors[move] = [
                    _(
                        "No ANAF connection serves %(company)s: add one in Settings > Invoicing > E-invoicing.",
                        company=move.company_id.name,
                    )
                ]
                continue
            values_list.append(
                dict(move._l10n_ro_anaf_efactura_upload_options(), move_id=move.id, credential_id=credential.id)
            )
        if values_list:
            if queue:
                Document = Document.with_context(**{QUEUE_KEY: True})
            _attempts, refused = Document._einvoice_attempt_start(values_list)
            for move, texts in refused.items():
                errors.setdefault(move, []).extend(texts)
        return errors

    # -- actions ---------------------------------------------------------------------------
    def action_l10n_ro_anaf_efactura_send(self):
        """Server action / button: send the selected posted invoices to ANAF."""
        candidates = self.filtered(lambda m: m._l10n_ro_anaf_efactura_is_candidate())
        errors = candidates._l10n_ro_anaf_efactura_send()
        labels = dict(MOVE_STATES)
        for move in self - candidates:
            if move.l10n_ro_anaf_efactura_state in LIVE_STATES + ("ok",):
                errors[move] = [
                    _(
                        "%(move)s is already at ANAF (%(state)s); it is not sent twice.",
                        move=move.name,
                        state=labels[move.l10n_ro_anaf_efactura_state],
                    )
                ]
            elif move.l10n_ro_edi_state in ("invoice_sent", "invoice_validated"):
                errors[move] = [
                    _(
                        "%(move)s was sent to ANAF before this module was installed.",
                        move=move.name,
                    )
                ]
            else:
                errors[move] = [
                    _(
                        "Only posted customer invoices and credit notes, and posted vendor bills of a "
                        "self-billing journal, of Romanian companies are sent to ANAF (%(move)s).",
                        move=move.display_name,
                    )
                ]
        for move, messages in errors.items():
            move._l10n_ro_anaf_efactura_post(_("Not sent to ANAF:\n%(errors)s", errors="\n".join(messages)))
        if len(self) == 1 and errors:
            raise UserError("\n".join(next(iter(errors.values()))))
        return True

    def action_l10n_ro_anaf_efactura_check(self):
        """Ask ANAF now: check the live attempts, then tell the person what ANAF said (and reload the view)."""
        self.l10n_ro_anaf_efactura_document_ids.filtered(
            lambda d: d.state in LIVE_STATES
        ).action_l10n_ro_anaf_efactura_check_now()
        self.invalidate_recordset(["l10n_ro_anaf_efactura_state", "l10n_ro_anaf_efactura_message"])
        labels = dict(MOVE_STATES)
        lines = [
            "{}: {}".format(move.name, labels.get(move.l10n_ro_anaf_efactura_state) or _("not sent"))
            for move in self[:20]
        ]
        if len(self) > 20:
            lines.append(_("... and %(count)s more", count=len(self) - 20))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("ANAF e-Factura"),
                "message": "\n".join(lines),
                "type": "info",
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # -- deadline monitor ---------------------------------------------------------------------
    @api.model
    def _cron_l10n_ro_anaf_efactura_deadline(self, warn_days=1, limit=500):
        """An activity on posted invoices not yet accepted when the 5-working-day limit is near."""
        today = fields.Date.context_today(self)
        moves = self.search(
            [
                "|",
                ("move_type", "in", ("out_invoice", "out_refund")),
                "&",
                ("move_type", "in", ("in_invoice", "in_refund")),
                ("journal_id.l10n_ro_anaf_efactura_self_billing", "=", True),
                ("state", "=", "posted"),
                ("company_id.account_fiscal_country_id.code", "=", "RO"),
                ("l10n_ro_anaf_efactura_state", "not in", ("ok",)),
                ("invoice_date", ">=", fields.Date.subtract(today, days=30)),
            ],
            limit=limit,
        )
        activity_type = self.env.ref("mail.mail_activity_data_warning", raise_if_not_found=False) or self.env.ref(
            "mail.mail_activity_data_todo"
        )
        warned = self.env["account.move"]
        summary = _("e-Factura deadline")
        for move in moves:
            left = anaf_deadline.working_days_left(move.invoice_date, today)
            if left > warn_days:
                continue
            if move.activity_ids.filtered(lambda a: a.activity_type_id == activity_type and a.summary == summary):
                continue
            move.activity_schedule(
                activity_type_id=activity_type.id,
                summary=summary,
                date_deadline=move.l10n_ro_anaf_efactura_deadline,
                note=_(
                    "%(move)s must reach ANAF by %(date)s (5 working days after its date); its e-Factura state "
                    "is: %(state)s.",
                    move=move.name,
                    date=move.l10n_ro_anaf_efactura_deadline,
                    state=dict(MOVE_STATES).get(move.l10n_ro_anaf_efactura_state, _("not sent")),
                ),
                user_id=(move.invoice_user_id or move.create_uid or self.env.user).id,
            )
            warned |= move
        return warned

    @api.model
    def _l10n_ro_anaf_efactura_demo_invoices(self, company_id, partner_id):
        """Two draft invoices of the Romanian demo company at today's 21 % VAT (demo data)."""
        company = self.env["res.company"].browse(company_id)
        Journal = self.env["account.journal"]
        journal = Journal.search([*Journal._check_company_domain(company), ("type", "=", "sale")], limit=1)
        if not journal:
            return self.browse()
        tax = self.env["account.tax"]._l10n_ro_anaf_efactura_demo_tax(company)
        moves = self.browse()
        for amount in (1000.0, 250.0):
            line = {"name": "Servicii de consultanta", "quantity": 1, "price_unit": amount}
            if tax:
                line["tax_ids"] = [(6, 0, tax.ids)]
            moves |= self.with_company(company).create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner_id,
                    "journal_id": journal.id,
                    "invoice_line_ids": [(0, 0, line)],
                }
            )
        return moves
