import logging

from lxml import etree
from markupsafe import Markup

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools.xml_utils import cleanup_xml_node

from odoo.addons.einvoice_common import dbtools
from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..efact import checks, corrective, documents, received
from .einvoice_credential import efact_error_text  # noqa: F401 - used by the RCF side
from .l10n_efact_aoc_document import MOVE_STATES, OUT_LIVE_STATES

_logger = logging.getLogger(__name__)
PARTNER_REVIEW_NOTE = "l10n_efact_aoc: created from a Facturae"


class AccountMove(models.Model):
    _inherit = "account.move"

    l10n_efact_aoc_document_ids = fields.One2many("l10n_efact_aoc.document", "move_id", string="eFACT documents")
    l10n_efact_aoc_document_id = fields.Many2one(
        "l10n_efact_aoc.document",
        string="eFACT document",
        compute="_compute_l10n_efact_aoc_document_id",
    )
    # not stored: the attempts are written on their own cursor while the request that started them may
    # still hold the invoice's row (a stored field would make that cursor update the invoice)
    l10n_efact_aoc_state = fields.Selection(
        MOVE_STATES,
        string="eFACT state",
        compute="_compute_l10n_efact_aoc_state",
        copy=False,
    )
    l10n_efact_aoc_hub_id = fields.Char(string="eFACT id", compute="_compute_l10n_efact_aoc_document_id")
    l10n_efact_aoc_blocking = fields.Boolean(
        "eFACT: being confirmed",
        compute="_compute_l10n_efact_aoc_document_id",
        help="Technical: a submission may be alive at eFACT; no eFACT button is offered meanwhile.",
    )
    l10n_efact_aoc_status = fields.Char("eFACT status", compute="_compute_l10n_efact_aoc_document_id")
    l10n_efact_aoc_attachment_ids = fields.Many2many(
        "ir.attachment",
        "l10n_efact_aoc_move_attachment_rel",
        "move_id",
        "attachment_id",
        string="eFACT attachments",
        copy=False,
        help="Documents sent with the invoice to eFACT: at most 5 of at most 2 MB each (PDF, Word, Excel, "
        "OpenDocument or text).",
    )
    l10n_efact_aoc_face = fields.Boolean(
        "Forward to FACe",
        copy=False,
        help="Ask eFACT to forward the invoice to FACe (only for issuers allowed to).",
    )
    l10n_efact_aoc_import_warning = fields.Text("eFACT import warning", copy=False)

    @api.depends(
        "l10n_efact_aoc_document_ids",
        "l10n_efact_aoc_document_ids.hub_id",
        "l10n_efact_aoc_document_ids.state",
        "l10n_efact_aoc_document_ids.next_check",
    )
    def _compute_l10n_efact_aoc_document_id(self):
        for move in self:
            latest = move.l10n_efact_aoc_document_ids.sorted("id", reverse=True)[:1]
            move.l10n_efact_aoc_document_id = latest
            move.l10n_efact_aoc_hub_id = latest.hub_id
            live = latest.direction == "out" and latest.state in ("waiting", "sending", "unknown")
            move.l10n_efact_aoc_blocking = latest.einvoice_attempt_blocking
            move.l10n_efact_aoc_status = latest.einvoice_attempt_status if live else False

    @api.depends("l10n_efact_aoc_document_ids.state", "l10n_efact_aoc_document_ids.hub_state")
    def _compute_l10n_efact_aoc_state(self):
        for move in self:
            latest = move.l10n_efact_aoc_document_ids.sorted("id", reverse=True)[:1]
            move.l10n_efact_aoc_state = latest._l10n_efact_aoc_move_state() if latest else False

    def _l10n_efact_aoc_live_submission(self):
        """The submission that is (or may become) this invoice at the hub: no second one while it exists."""
        self.ensure_one()
        return self.l10n_efact_aoc_document_ids.filtered(lambda d: d.direction == "out" and d.state in OUT_LIVE_STATES)[
            :1
        ]

    # ================================================================== supplier side
    def _l10n_efact_aoc_credential(self, role):
        self.ensure_one()
        domain = [
            ("service", "=", "efact"),
            ("l10n_efact_aoc_role_" + role, "=", True),
            "|",
            ("company_ids", "in", self.company_id.id),
            ("company_id", "=", self.company_id.id),
        ]
        return self.env["einvoice.credential"].sudo().search(domain, limit=1)

    def _l10n_efact_aoc_centres(self):
        self.ensure_one()
        partner = self.commercial_partner_id
        codes = {}
        for centre in partner.child_ids.filtered(lambda c: c.type == "facturae_ac"):
            for role in centre.l10n_es_edi_facturae_ac_role_type_ids:
                codes[role.code] = centre.l10n_es_edi_facturae_ac_center_code
        return codes

    def _l10n_efact_aoc_is_applicable(self):
        """A posted customer invoice to a public body with its DIR3 centres, and an eFACT connection."""
        self.ensure_one()
        centres = self._l10n_efact_aoc_centres()
        return bool(
            self.state == "posted"
            and self.move_type in ("out_invoice", "out_refund")
            and self.company_id.country_code == "ES"
            and all(centres.get(code) for code in ("01", "02", "03"))
            and self._l10n_efact_aoc_credential("supplier")
            and not self._l10n_efact_aoc_live_submission()
        )

    def _l10n_efact_aoc_attachments(self):
        self.ensure_one()
        return [
            documents.Attachment(a.name, a.raw or b"", documents.mime_for(a.name, a.mimetype))
            for a in self.l10n_efact_aoc_attachment_ids
        ]

    def _l10n_efact_aoc_check(self, sync=False):
        """What prevents sending this invoice to eFACT (sentences naming what to fix). With `sync`, the
        customer's DIR3 units are loaded from eFACT first when they never were."""
        self.ensure_one()
        problems = self._l10n_efact_aoc_nif_problems() + self._l10n_efact_aoc_line_problems()
        try:
            problems += self._l10n_efact_aoc_dir3_problems(sync=sync)
        except UserError as exc:
            problems.append(exc.args[0])
        if not self._l10n_efact_aoc_credential("supplier"):
            problems.append(_("No eFACT connection able to send for %s.", self.company_id.name))
        live = self._l10n_efact_aoc_live_submission()
        if live:
            problems.append(
                _(
                    "%(name)s is already on eFACT (%(state)s): it cannot be sent twice.",
                    name=self.name,
                    state=dict(self._fields["l10n_efact_aoc_state"]._description_selection(self.env)).get(
                        live._l10n_efact_aoc_move_state()
                    ),
                )
            )
        problems += documents.check_attachments(self._l10n_efact_aoc_attachments())
        return problems

    # -- supplier: where the eFACT UI shows (Spanish companies with an active connection) --------------
    l10n_efact_aoc_enabled = fields.Boolean(
        compute="_compute_l10n_efact_aoc_enabled",
        help="Technical: the company is Spanish and has an active eFACT connection (shows the eFACT UI).",
    )

    @api.depends("company_id", "company_id.country_code")
    def _compute_l10n_efact_aoc_enabled(self):
        enabled = {}
        for move in self:
            company = move.company_id
            if company.id not in enabled:
                enabled[company.id] = company.country_code == "ES" and bool(company._l10n_efact_aoc_credentials())
            move.l10n_efact_aoc_enabled = enabled[company.id] or bool(move.l10n_efact_aoc_document_ids)

    # -- supplier: checks before sending (NIF control characters, DIR3 units, lines, schema) ----------
    def _l10n_efact_aoc_centre_contacts(self):
        """{role code: administrative-centre contact} of the customer."""
        self.ensure_one()
        contacts = {}
        for centre in self.commercial_partner_id.child_ids.filtered(lambda c: c.type == "facturae_ac"):
            for role in centre.l10n_es_edi_facturae_ac_role_type_ids:
                contacts.setdefault(role.code, centre)
        return contacts

    def _l10n_efact_aoc_nif_problems(self):
        self.ensure_one()
        problems = []
        for partner, what in (
            (self.commercial_partner_id, _("customer")),
            (self.company_id.partner_id, _("company")),
        ):
            if partner.vat and not checks.nif_control_ok(partner.vat):
                problems.append(
                    _(
                        "The NIF %(vat)s of the %(what)s %(name)s has a wrong control character (eFACT refuses it "
                        "with code 3021): correct its Tax ID.",
                        vat=partner.vat,
                        what=what,
                        name=partner.display_name,
                    )
                )
        return problems

    def _l10n_efact_aoc_line_problems(self):
        """Facturae gives every line its tax: a line without one makes the file fail the schema."""
        self.ensure_one()
        return [
            _(
                "%(move)s: the line %(line)r has no tax; set its VAT (Facturae needs the tax of every line).",
                move=self.name,
                line=line.name or line.product_id.display_name or "-",
            )
            for line in self.invoice_line_ids.filtered(lambda ml: ml.display_type == "product" and not ml.tax_ids)
        ]

    def _l10n_efact_aoc_synced_units(self, sync=False):
        """Every DIR3 triple synced from eFACT; with `sync`, loads the customer's public body first
        when it was never loaded (one call, before the submission)."""
        self.ensure_one()
        Receptor = self.env["l10n_efact_aoc.receptor"].sudo()
        receptor = Receptor._l10n_efact_aoc_find(self.commercial_partner_id.vat)
        credential = self._l10n_efact_aoc_credential("supplier")
        if sync and not receptor.detail_loaded and credential:
            try:
                if not receptor:
                    Receptor._l10n_efact_aoc_sync(credential)
                    receptor = Receptor._l10n_efact_aoc_find(self.commercial_partner_id.vat)
                receptor._l10n_efact_aoc_load_detail(credential)
            except UserError as exc:
                # eFACT checks the units itself: an unreachable list must not block the submission
                _logger.info("eFACT DIR3 units of %s not loaded: %s", self.commercial_partner_id.vat, exc)
        if not receptor.detail_loaded:
            return None  # not known yet: only what needs no eFACT list is checked
        return [
            checks.Unit(d.receptor_id.nif, d.oficina_comptable, d.organ_gestor, d.unitat_tramitadora)
            for d in self.env["l10n_efact_aoc.dir3"].sudo().search([])
        ]

    def _l10n_efact_aoc_dir3_problems(self, sync=False):
        self.ensure_one()
        partner = self.commercial_partner_id
        contacts = self._l10n_efact_aoc_centre_contacts()
        centres = {role: contact.l10n_es_edi_facturae_ac_center_code or "" for role, contact in contacts.items()}
        units = self._l10n_efact_aoc_synced_units(sync=sync)
        found = checks.check_dir3(centres, partner.vat, units or [])
        if units is None:
            found = [p for p in found if p.kind in ("missing", "too_long")]
        return [self._l10n_efact_aoc_dir3_text(problem, contacts.get(problem.role) or partner) for problem in found]

    def _l10n_efact_aoc_dir3_text(self, problem, contact):
        role = {
            "01": _("accounting office (role 01)"),
            "02": _("managing body (role 02)"),
            "03": _("processing unit (role 03)"),
            "": _("DIR3 units"),
        }[problem.role]
        values = {"contact": contact.display_name, "role": role, "code": problem.code, "detail": problem.detail}
        texts = {
            "missing": _("%(contact)s has no DIR3 %(role)s: set its eFACT DIR3 units.", **values),
            "too_long": _(
                "%(contact)s: the DIR3 %(role)s code %(code)s has %(detail)s characters; eFACT accepts at most 10.",
                **values,
            ),
            "other_owner": _(
                "%(contact)s: the DIR3 %(role)s %(code)s belongs to another public body (NIF %(detail)s); "
                "choose the units of this customer (Load DIR3 units from eFACT).",
                **values,
            ),
            "unknown": _(
                "%(contact)s: the DIR3 %(role)s %(code)s is not among the units eFACT lists for this public "
                "body; load its DIR3 units from eFACT and choose one.",
                **values,
            ),
            "combination": _(
                "%(contact)s: the DIR3 units %(code)s are not a combination eFACT lists for this public body; "
                "choose one with Load DIR3 units from eFACT.",
                **values,
            ),
        }
        return texts[problem.kind]

    def _l10n_efact_aoc_schema_message(self, errors, credential):
        """What to fix when the Facturae fails the 3.2.2 schema, by the part the errors point at; the
        validator's own lines go to the exchange log (for support), not to the user."""
        self.ensure_one()
        self.env["einvoice.exchange"].sudo().create(
            {
                "credential_id": credential.id,
                "company_id": self.company_id.id,
                "service": "efact",
                "operation": "efact.facturae_schema",
                "res_model": self._name,
                "res_id": self.id,
                "reference": self.name,
                "outcome": "rejected",
                "error": "\n".join(errors),
            }
        )
        return _(
            "%(advice)s The validator's report is in the invoice's exchange log.",
            advice=self._l10n_efact_aoc_schema_advice(errors),
        )

    def _l10n_efact_aoc_schema_precheck(self):
        """The Facturae rendered unsigned and checked against the 3.2.2 XSD, for the Send & Print alert
        (no signature, no call): the same advice as at sending, before the user presses the button."""
        self.ensure_one()
        try:
            values, _signature = self._l10n_es_edi_facturae_export_facturae()
            node = cleanup_xml_node(
                self.env["ir.qweb"]._render("l10n_es_edi_facturae.account_invoice_facturae_export", values)
            )
        except (UserError, KeyError, ValueError) as exc:
            return [_("%(move)s: %(error)s", move=self.name, error=exc.args[0] if exc.args else exc)]
        errors = documents.validate_facturae(etree.tostring(node, xml_declaration=True, encoding="UTF-8"))
        if not errors:
            return []
        return [_("%(move)s: %(advice)s", move=self.name, advice=self._l10n_efact_aoc_schema_advice(errors))]

    def _l10n_efact_aoc_schema_advice(self, errors):
        self.ensure_one()
        partner = self.commercial_partner_id
        hints = {
            "tax": _("every invoice line needs its VAT (Taxes column)"),
            "centre": _("the DIR3 administrative centres of %s (code and role)", partner.display_name),
            "tax_id": _(
                "the Tax ID of %(partner)s and of %(company)s",
                partner=partner.display_name,
                company=self.company_id.name,
            ),
            "address": _(
                "the address (street, ZIP, city, state, country) of %s and of its administrative centres",
                partner.display_name,
            ),
            "corrective": _("the correction reason and method of the credit note (eFACT tab)"),
            "name": _("the name of %s and of its administrative centres", partner.display_name),
            "line": _("the description, quantity and unit of every line"),
        }
        kinds = checks.schema_error_kinds(errors) or ["address", "tax_id"]
        return _(
            "its Facturae does not follow the official Facturae 3.2.2 schema; check %s.",
            "; ".join(hints[kind] for kind in kinds),
        )

    # -- supplier: Facturae fixes (corrective block, invoice-level taxes per type and rate) ----------
    l10n_efact_aoc_correction_method = fields.Selection(
        corrective.METHOD_LABELS,
        string="Correction method",
        copy=False,
        help="Facturae correction method of this credit note. Empty: 01 (full) when it cancels the whole "
        "invoice, 02 (by differences) otherwise.",
    )

    def _l10n_efact_aoc_corrected_reference(self, invoice):
        """(number, series) of the corrected invoice as the public body registered it."""
        sent = invoice.l10n_efact_aoc_document_ids.filtered(
            lambda d: d.direction == "out" and d.hub_id and d.state != "error"
        ).sorted("id", reverse=True)[:1]
        if sent.number:
            return sent.number, sent.series or ""
        return invoice.name, ""  # core's InvoiceHeader: the name as number, no series

    def _l10n_efact_aoc_correction_method(self, invoice):
        self.ensure_one()
        if self.l10n_efact_aoc_correction_method:
            return self.l10n_efact_aoc_correction_method
        return corrective.default_method(invoice.amount_total, self.amount_total)

    def _l10n_es_edi_facturae_get_corrective_data(self):
        # EXTENDS 'l10n_es_edi_facturae': official texts, chosen method, corrected number/series/date
        data = super()._l10n_es_edi_facturae_get_corrective_data()
        if not data:
            return data
        invoice = data["refunded_invoice_record"]
        number, series = self._l10n_efact_aoc_corrected_reference(invoice)
        try:
            values = corrective.corrective(
                self._l10n_efact_aoc_correction_method(invoice),
                self.l10n_es_edi_facturae_reason_code,
                number,
                series,
                (data["TaxPeriod"]["StartDate"], data["TaxPeriod"]["EndDate"]),
                invoice.invoice_date,
            )
        except ValueError as exc:
            raise UserError(_("Credit note %(name)s: %(error)s", name=self.name, error=exc.args[0])) from exc
        data.update(values, Reason=values["ReasonDescription"])
        return data

    @api.model
    def _l10n_efact_aoc_tax_key(self, node):
        return (node["tax_record"].l10n_es_edi_facturae_tax_type, node["TaxRate"])

    def _l10n_es_edi_facturae_export_facturae(self):
        # EXTENDS 'l10n_es_edi_facturae': one invoice-level <Tax> per tax type and rate, not per line
        result = super()._l10n_es_edi_facturae_export_facturae()
        if not result:
            return result
        template_values, _signature = result
        for invoice in template_values["Invoices"]:
            for key in ("TaxOutputs", "TaxesWithheld"):
                if invoice.get(key):
                    invoice[key] = corrective.group_tax_nodes(invoice[key], self._l10n_efact_aoc_tax_key)
        return result

    def _l10n_efact_aoc_facturae(self, xml=None, doc=None):
        self.ensure_one()
        if xml:
            return xml if isinstance(xml, bytes) else xml.encode()
        earlier = self.l10n_efact_aoc_document_ids.filtered(lambda d: d.direction == "out" and d != doc)
        if self.l10n_es_edi_facturae_xml_id and not earlier:
            # the signed file the customer already has; a new submission (after a rejection and a
            # correction) gets a freshly built one instead
            return self.l10n_es_edi_facturae_xml_id.raw
        content, errors = self._l10n_es_edi_facturae_render_facturae()
        if errors:
            raise UserError("\n".join(errors))
        return content if isinstance(content, bytes) else content.encode()

    def _l10n_efact_aoc_build_submission(self, doc):
        """einvoice.attempt's payload of `doc`: the signed Facturae (the one Send & Print made, when it
        did) in the exact POST /factura body. Raises UserError for what the user must fix."""
        self.ensure_one()
        credential = doc.credential_id
        given = dict(self.env.context.get("l10n_efact_aoc_xml") or ()).get(self.id)
        filename = self._l10n_es_edi_facturae_get_filename()
        try:
            xml = self._l10n_efact_aoc_facturae(given, doc)
            facturae = documents.parse_facturae(xml)
            schema_problems = documents.validate_facturae(xml)
            if schema_problems:
                raise documents.DocumentError(self._l10n_efact_aoc_schema_message(schema_problems, credential))
            body = documents.build_submission(
                filename,
                xml,
                self._l10n_efact_aoc_attachments(),
                email=credential.l10n_efact_aoc_notify_email or "",
                face=self.l10n_efact_aoc_face,
            )
        except (UserError, documents.DocumentError) as exc:
            raise UserError(_("The invoice cannot be sent to eFACT: %s", exc.args[0] if exc.args else exc)) from exc
        doc._l10n_efact_aoc_store_facturae(facturae, xml, filename)
        return documents.submission_bytes(body), f"eFACT_request_{(self.name or str(self.id)).replace('/', '_')}.json"

    def _l10n_efact_aoc_send(self, xml=None):
        """Send this invoice to eFACT: an error text, or False (sent, or being confirmed with eFACT)."""
        self.ensure_one()
        return "\n".join(self._l10n_efact_aoc_send_many({self: xml}).get(self, [])) or False

    def _l10n_efact_aoc_send_many(self, xml_by_move=None):
        """The send contract shared by Send & Print and the list action: {move: [error texts]} for the
        moves that need a person; sent, waiting and outcome-unknown moves are not errors (the cron
        carries them on). One einvoice.attempt per move, created and run by the system."""
        self.check_access("write")  # the attempts below are made by the system for this user
        errors, values_list = {}, []
        for move in self:
            problems = move._l10n_efact_aoc_check(sync=True)
            if problems:
                errors[move] = problems
                continue
            values_list.append(
                {
                    "direction": "out",
                    "move_id": move.id,
                    "company_id": move.company_id.id,
                    "credential_id": move._l10n_efact_aoc_credential("supplier").id,
                }
            )
        if values_list:
            xml = tuple((move.id, raw) for move, raw in (xml_by_move or {}).items() if raw)
            Doc = self.env["l10n_efact_aoc.document"].with_context(l10n_efact_aoc_xml=xml)
            _docs, refused = Doc._einvoice_attempt_start(values_list)
            for move, texts in refused.items():
                errors[self.browse(move.id)] = texts
        return errors

    def action_l10n_efact_aoc_send(self):
        """Send the selected invoices to eFACT (list server action and button)."""
        moves = self.filtered(lambda m: m.state == "posted" and m.move_type in ("out_invoice", "out_refund"))
        errors = moves._l10n_efact_aoc_send_many()
        for move, texts in errors.items():
            move.with_context(no_new_invoice=True).message_post(body="\n".join(texts))
        if errors and len(self) == 1:
            raise UserError("\n".join(next(iter(errors.values()))))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning" if errors else "success",
                "message": _(
                    "%(sent)s invoice(s) sent to eFACT, %(failed)s not sent (see their chatter).",
                    sent=len(moves) - len(errors),
                    failed=len(errors) + len(self - moves),
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_l10n_efact_aoc_refresh(self):
        return self.l10n_efact_aoc_document_id.action_l10n_efact_aoc_refresh()

    def action_l10n_efact_aoc_download_receipt(self):
        if not self.l10n_efact_aoc_document_id:
            raise UserError(_("This invoice has no eFACT document."))
        return self.l10n_efact_aoc_document_id.action_l10n_efact_aoc_download_receipt()

    def action_l10n_efact_aoc_view_documents(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_efact_aoc.l10n_efact_aoc_document_action")
        action["domain"] = [("move_id", "=", self.id)]
        return action

    # ================================================================== public-body side
    @api.model
    def _cron_l10n_efact_aoc_pull_invoices(self, limit=200):
        """RCF side: download pending invoices (all pages, at most `limit` per connection and run) into
        vendor bills of the company owning the receiving NIF, then report DELIVERED; then later
        attachments; then queued reports. Runs again at once while invoices remain."""
        Credential = self.env["einvoice.credential"]
        done, more = 0, False
        for credential in Credential.sudo().search([("service", "=", "efact"), ("l10n_efact_aoc_role_rcf", "=", True)]):
            try:
                delivered, refused = self._l10n_efact_aoc_pull_invoices(credential, limit=limit)
                done += len(delivered)
                more |= len(delivered) + len(refused) >= limit
                self._l10n_efact_aoc_pull_attachments(credential)
                credential._l10n_efact_aoc_mark()
            except UserError as exc:
                _logger.warning("eFACT connection %s skipped: %s", credential.name, exc.args[0])
            except common_errors.EInvoiceError as exc:
                _logger.warning("eFACT pull for %s stopped: %s", credential.name, exc)
                credential._l10n_efact_aoc_mark(exc)
            Credential._einvoice_commit()
        self.env["l10n_efact_aoc.inbox"]._l10n_efact_aoc_trigger_if_waiting()
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        self.env["ir.cron"]._notify_progress(done=done, remaining=int(more))
        if more:
            self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_pull_invoices")._trigger()
        return True

    @api.model
    def _l10n_efact_aoc_company_by_nif(self, credential):
        companies = (credential.company_ids | credential.company_id).sudo()
        return {c._l10n_efact_aoc_nif(): c for c in companies if c.vat}

    @api.model
    def _l10n_efact_aoc_pull_invoices(self, credential, nif=None, oficina_comptable=None, limit=None, chunk=None):
        """Store first, process second: see `l10n_efact_aoc.inbox._l10n_efact_aoc_pull`."""
        options = {"chunk": chunk} if chunk else {}
        return self.env["l10n_efact_aoc.inbox"]._l10n_efact_aoc_pull(
            credential, nif=nif, oficina_comptable=oficina_comptable, limit=limit, **options
        )

    def _l10n_efact_aoc_prepare_import(self, credential, company, pending, doc, prefetched=None, cache=None):
        """Parse and check one received invoice; returns the values of its bill (a dict for
        `_l10n_efact_aoc_create_bills`), or its document when it was linked to the bill that already
        existed (FTP delivery). Refusals raise DocumentError / UserError."""
        cache = {} if cache is None else cache
        if prefetched:
            info, xml, files = prefetched
        else:
            api = credential._l10n_efact_aoc_rcf_client(record=doc or credential)
            info, xml = api.get_invoice(pending.id), api.get_facturae(pending.id)
            files = [(att_id, name, *api.get_attachment(pending.id, att_id)) for att_id, name in info.attachments]
        root = documents.parse_xml(xml)  # parsed once; refuses DOCTYPE/entities, unparsable files
        facturae = documents.facturae_from_root(root)
        self._l10n_efact_aoc_check_received(pending, info, facturae, root)
        values = {
            "direction": "in",
            "company_id": company.id,
            "credential_id": credential.id,
            "hub_id": pending.id,
            "hub_state": "registered",
            "number": info.number or facturae.invoice.number,
            "amount": info.amount,
            "supplier_nif": info.supplier_nif or facturae.seller_nif,
            "supplier_name": info.supplier_name or facturae.seller_name,
            "receiver_nif": info.nif or pending.nif,
            "receiver_name": info.name,
            "registry_number": info.registry_number,
            "registry_date": _parse(info.registry_date),
            "oficina_comptable": info.oficina_comptable,
            "organ_gestor": info.organ_gestor,
            "unitat_tramitadora": info.unitat_tramitadora,
        }
        bill = self._l10n_efact_aoc_find_ftp_bill(company, values)
        if bill:
            return self._l10n_efact_aoc_link_ftp_bill(bill, company, doc, values, files, pending)
        journal = company._l10n_efact_aoc_purchase_journal()
        if not journal:
            raise UserError(_("%s has no purchase journal for the invoices received from eFACT.", company.name))
        Move = self.with_company(company).with_context(l10n_efact_aoc_import=True)
        partner, created = Move._l10n_efact_aoc_supplier(company, facturae, root, cache)
        data = received.bill_data(root.xpath("//Invoice")[0], company.currency_id.decimal_places)
        bill_values, logs = Move._l10n_efact_aoc_bill_values(company, journal, partner, data, cache)
        return {
            "doc": doc,
            "values": values,
            "bill_values": bill_values,
            "xml": xml,
            "files": files,
            "logs": logs,
            "partner": partner,
            "created": created,
        }

    def _l10n_efact_aoc_link_ftp_bill(self, bill, company, doc, values, files, pending):
        doc = self._l10n_efact_aoc_save_in_document(doc, dict(values, move_id=bill.id))
        bill.with_context(no_new_invoice=True).message_post(
            body=_(
                "Linked to eFACT invoice %s: the bill already existed (FTP delivery); no duplicate created.",
                pending.id,
            )
        )
        for attachment_id, name, content, mime in files:
            bill._l10n_efact_aoc_store_attachment(attachment_id, name, content, mime)
        if company.l10n_efact_aoc_registry_mode == "create" and not bill.l10n_efact_aoc_import_warning:
            bill._l10n_efact_aoc_register()
        if bill.state == "posted":
            bill._l10n_efact_aoc_on_post()
        return doc

    @api.model
    def _l10n_efact_aoc_check_received(self, pending, info, facturae, root):
        """Refuse a received Facturae that is unsigned, off-schema, multiple or not the one eFACT registered."""
        if not facturae.signed or not facturae.signature_value:
            raise documents.DocumentError(_("The Facturae of eFACT invoice %s is not signed.", pending.id))
        if facturae.version == "3.2.2":
            schema_problems = documents.validate_facturae_root(root)
            if schema_problems:
                raise documents.DocumentError(
                    _(
                        "The Facturae of eFACT invoice %(id)s does not follow the Facturae 3.2.2 schema:\n%(problems)s",
                        id=pending.id,
                        problems="\n".join(schema_problems),
                    )
                )
        # Facturae 3.2 and 3.2.1 are accepted by their namespace (no official schema shipped for them)
        if len(facturae.invoices) != 1:
            raise documents.DocumentError(_("The Facturae of eFACT invoice %s holds several invoices.", pending.id))
        if documents.normalize_nif(facturae.buyer_nif) != documents.normalize_nif(info.nif or pending.nif):
            raise documents.DocumentError(
                _(
                    "The Facturae is addressed to %(file)s but eFACT says %(hub)s.",
                    file=facturae.buyer_nif,
                    hub=info.nif or pending.nif,
                )
            )
        if facturae.invoice.total != documents.money(info.amount):
            raise documents.DocumentError(
                _(
                    "The Facturae total %(file)s does not match the amount %(hub)s registered by eFACT.",
                    file=facturae.invoice.total,
                    hub=documents.money(info.amount),
                )
            )

    @api.model
    def _l10n_efact_aoc_save_in_document(self, doc, values):
        if doc:
            doc.write(values)
            return doc
        return self.env["l10n_efact_aoc.document"].create(values)

    def _l10n_efact_aoc_find_ftp_bill(self, company, values):
        nif = documents.normalize_nif(values["supplier_nif"])
        candidates = self.search(
            [
                ("company_id", "=", company.id),
                ("move_type", "=", "in_invoice"),
                ("state", "!=", "cancel"),
                ("ref", "=", values["number"]),
                ("l10n_efact_aoc_document_ids", "=", False),
            ]
        )
        currency = company.currency_id
        for bill in candidates:
            if (
                documents.normalize_nif(bill.commercial_partner_id.vat) == nif
                and currency.compare_amounts(bill.amount_total, values["amount"]) == 0
            ):
                return bill
        return self.browse()

    @api.model
    def _l10n_efact_aoc_supplier(self, company, facturae, root, cache):
        """(partner, created): the supplier by its NIF (once per run), else what core's Facturae import
        finds or creates."""
        nif = documents.normalize_nif(facturae.seller_nif)
        key = ("partner", company.id, nif)
        if cache.get(key):
            return self.env["res.partner"].browse(cache[key]), False
        partner, created = self._l10n_efact_aoc_find_supplier(company, facturae, root, nif)
        cache[key] = partner.id
        return partner, created

    @api.model
    def _l10n_efact_aoc_find_supplier(self, company, facturae, root, nif):
        known = self.env["res.partner"].search(
            [
                ("vat", "!=", False),
                "|",
                ("company_id", "=", False),
                ("company_id", "=", company.id),
                ("vat", "ilike", nif),
            ],
            limit=1,
        )
        if known:
            return known, False
        partner = self._import_get_partner(root, True)  # core: retrieve or create from the SellerParty
        if partner and not partner.vat:
            partner.with_context(no_vat_validation=True).write({"vat": facturae.seller_nif})
        return partner or self.env["res.partner"], bool(partner)

    @api.model
    def _l10n_efact_aoc_bill_lines(self, company, data, cache):
        """Line commands and import notes of BillData `data`, the way core's Facturae import reads
        them (product by description, purchase taxes by rate), each lookup done once per run."""
        logs, commands = [], []
        for line in data.lines:
            vals = {"name": line.name, "quantity": line.quantity, "price_unit": line.price_unit}
            vals["discount"] = line.discount
            if line.name:
                key = ("product", line.name)
                if key not in cache:
                    cache[key] = self._search_product_for_import(line.name).id
                if cache[key]:
                    vals["product_id"] = cache[key]
                else:
                    logs.append(_("The product '%s' could not be found.", line.name))
            tax_ids = []
            for ref in line.taxes:
                key = ("tax", company.id, ref.rate, ref.fixed, ref.withheld)
                if key not in cache:  # core's order: a tax excluded from the price, else one included in it
                    excluded = self._search_tax_for_import(company, ref.rate, ref.fixed, ref.withheld, True, False)
                    included = not excluded and self._search_tax_for_import(
                        company, ref.rate, ref.fixed, ref.withheld, True, True
                    )
                    cache[key] = (excluded[:1].id, included and included[:1].id)
                excluded, included = cache[key]
                if excluded or included:
                    tax_ids.append(excluded or included)
                    if not excluded:
                        vals["price_unit"] *= 1.0 + ref.rate / 100.0
                else:
                    logs.append(
                        _(
                            "Could not retrieve the tax: %(tax_rate)s %% for line '%(line)s'.",
                            tax_rate=ref.rate,
                            line=line.name,
                        )
                    )
            vals["tax_ids"] = [Command.set(tax_ids)]
            commands.append(Command.create(vals))
        return commands, logs

    @api.model
    def _l10n_efact_aoc_create_bills(self, company, prepared):
        """The bills of `prepared` (see `_l10n_efact_aoc_prepare_import`) in ONE create with their
        lines (a bad one alone fails: `dbtools.create_batch`), their files in one create, their
        documents in one create; then registry numbers (only for bills that landed: no gaps) and one
        chatter entry per bill. Returns [(document, None) or (None, error)] aligned with `prepared`."""
        if not prepared:
            return []
        Move = self.with_company(company).with_context(l10n_efact_aoc_import=True, tracking_disable=True)

        def created(bills, positions):
            Move._l10n_efact_aoc_bills_created(company, bills, [prepared[i] for i in positions])

        results = dbtools.create_batch(Move, [p["bill_values"] for p in prepared], after=created)
        landed = [(p, r.record) for p, r in zip(prepared, results, strict=True) if not r.error]
        Move._l10n_efact_aoc_register_and_log(company, landed)
        return [(None, r.error) if r.error else (p["out"]["doc"], None) for p, r in zip(prepared, results, strict=True)]

    @api.model
    def _l10n_efact_aoc_bills_created(self, company, bills, prepared):
        """Files, documents, total check and supplier review of bills just created, in the same
        savepoint (rolled back with them). What it makes goes in each `prep["out"]`, made afresh
        when the batch is done again one bill at a time."""
        file_values, owners = [], []
        for bill, prep in zip(bills, prepared, strict=True):
            prep["out"] = {"doc": prep["doc"]}
            batch = bill._l10n_efact_aoc_bill_file_values(prep["values"], prep["xml"], prep["files"])
            file_values += batch
            owners += [prep["out"]] * len(batch)
        for out, attachment in zip(owners, self.env["ir.attachment"].create(file_values), strict=True):
            out.setdefault("stored", attachment)  # the Facturae is each bill's first file
        new_docs = []
        for bill, prep in zip(bills, prepared, strict=True):
            out = prep["out"]
            out["expected"] = documents.money(prep["values"]["amount"])
            out["mismatch"] = bill.currency_id.compare_amounts(bill.amount_total, float(out["expected"])) != 0
            values = dict(prep["values"], move_id=bill.id, attachment_id=out["stored"].id)
            if out["doc"]:
                out["doc"].write(values)
            else:
                new_docs.append((out, values))
        docs = self.env["l10n_efact_aoc.document"].create([values for _out, values in new_docs])
        for (out, _values), doc in zip(new_docs, docs, strict=True):
            out["doc"] = doc
        for bill, prep in zip(bills, prepared, strict=True):
            out = prep["out"]
            if out["mismatch"]:
                bill._l10n_efact_aoc_check_total_or_register(out["doc"], out["expected"], True, False)
            if prep["created"]:
                bill.activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=_("eFACT: review the new supplier"),
                    note=bill._l10n_efact_aoc_new_supplier_note(prep["partner"]),
                    user_id=self.env.user.id,
                )

    def _l10n_efact_aoc_new_supplier_note(self, partner):
        return _("The supplier %s did not exist and was created from the Facturae: review it.", partner.display_name)

    @api.model
    def _l10n_efact_aoc_register_and_log(self, company, landed):
        """Registry numbers and ANNOTATED (in "create" mode, totals matching) for the bills that
        landed, in one create, then one chatter entry per bill."""
        register = company.l10n_efact_aoc_registry_mode == "create"
        reports, notes_by_bill = [], {}
        sequence = company._l10n_efact_aoc_registry_sequence().sudo() if register and landed else None
        for prep, bill in landed:
            out = prep["out"]
            doc = out["doc"]
            notes = [
                _(
                    "Received from eFACT (id %(id)s, registration %(reg)s).",
                    id=doc.hub_id,
                    reg=doc.registry_number or "-",
                ),
                *prep["logs"],
            ]
            if prep["created"]:
                notes.append(bill._l10n_efact_aoc_new_supplier_note(prep["partner"]))
            if out["mismatch"]:
                notes.append(bill.l10n_efact_aoc_import_warning)
            elif register and not doc.report_ids.filtered(lambda r: r.state == "ANNOTATED" and r.status != "error"):
                number = doc.rcf_number or sequence.next_by_id()
                doc.rcf_number = number
                reports.append({"document_id": doc.id, "state": "ANNOTATED", "rcf_number": number})
                notes.append(_("Registered in the accounting registry of invoices with number %s.", number))
            notes_by_bill[bill] = (notes, out["stored"])
        self.env["l10n_efact_aoc.report"].sudo().create(reports)
        for bill, (notes, stored) in notes_by_bill.items():
            # a log entry, not a message: nobody to notify yet, and a fraction of message_post's queries
            bill._message_log(body=Markup("<br/>").join(notes), attachment_ids=stored.ids)

    def _l10n_efact_aoc_bill_values(self, company, journal, partner, data, cache):
        """(values of the bill's one create, import notes) from the Facturae's BillData `data`."""
        currency = self.env["res.currency"]
        logs = (
            []
            if partner
            else [_("Customer/Vendor could not be found and could not be created due to missing data in the XML.")]
        )
        if data.currency:
            key = ("currency", data.currency)
            if key not in cache:
                cache[key] = currency.search([("name", "=", data.currency)], limit=1).id
            currency = currency.browse(cache[key])
            if not currency:
                message = _(
                    "Could not retrieve currency: %s. Did you enable the multicurrency option and activate the currency?",  # noqa: E501 - core's text (translated)
                    data.currency,
                )
                logs.append(message)
        lines, line_logs = self._l10n_efact_aoc_bill_lines(company, data, cache)
        bill_values = {
            "move_type": "in_refund" if data.refund else "in_invoice",
            "journal_id": journal.id,
            "company_id": company.id,
            "partner_id": partner.id,
            "invoice_date": data.issue_date or False,
            "ref": data.number or False,
            "narration": data.narration,
            "invoice_line_ids": lines,
        }
        if currency:
            bill_values["currency_id"] = currency.id
        if data.due_date:
            bill_values["invoice_date_due"] = data.due_date
        return bill_values, logs + line_logs

    def _l10n_efact_aoc_bill_file_values(self, values, xml, files):
        """Values of the received Facturae and its attachments on this bill (the Facturae first)."""
        self.ensure_one()
        return [
            {
                "name": f"eFACT_{values['hub_id']}_{(values['number'] or '').replace('/', '_')}.xml",
                "raw": xml,
                "mimetype": "application/xml",
                "res_model": "account.move",
                "res_id": self.id,
            },
            *(
                {
                    "name": name or f"attachment_{attachment_id}",
                    "raw": content,
                    "description": f"efact:{attachment_id}",
                    "mimetype": (mime or "").split(";")[0] or documents.mime_for(name),
                    "res_model": "account.move",
                    "res_id": self.id,
                }
                for attachment_id, name, content, mime in files
            ),
        ]

    def _l10n_efact_aoc_check_total_or_register(self, doc, expected, mismatch, register, number=False):
        """A bill whose total differs from eFACT's stays in draft with a warning; else, in the "create"
        registry mode, it is registered (ANNOTATED queued; `number` given with a new document). Returns the
        notes for the chatter."""
        self.ensure_one()
        if mismatch:
            self.l10n_efact_aoc_import_warning = _(
                "The bill total %(bill)s differs from the Facturae / eFACT total %(hub)s by %(diff)s: check the "
                "taxes of the lines. The bill stays in draft and is not registered automatically.",
                bill=self.amount_total,
                hub=expected,
                diff=round(float(expected) - self.amount_total, 2),
            )
            return [self.l10n_efact_aoc_import_warning]
        if not register:
            return []
        if number:
            self.env["l10n_efact_aoc.report"].sudo().create(
                {"document_id": doc.id, "state": "ANNOTATED", "rcf_number": number}
            )
        else:
            number = self._l10n_efact_aoc_register(post=False)
        return [_("Registered in the accounting registry of invoices with number %s.", number)] if number else []

    def _l10n_efact_aoc_has_attachment(self, attachment_id):
        self.ensure_one()
        return bool(
            self.env["ir.attachment"].search_count(
                [
                    ("res_model", "=", "account.move"),
                    ("res_id", "=", self.id),
                    ("description", "=", f"efact:{attachment_id}"),
                ]
            )
        )

    def _l10n_efact_aoc_store_attachment(self, attachment_id, name, content, mime):
        self.ensure_one()
        tag = f"efact:{attachment_id}"
        if self._l10n_efact_aoc_has_attachment(attachment_id):
            return False
        self.env["ir.attachment"].create(
            {
                "name": name or f"attachment_{attachment_id}",
                "raw": content,
                "description": tag,
                "mimetype": (mime or "").split(";")[0] or documents.mime_for(name),
                "res_model": "account.move",
                "res_id": self.id,
            }
        )
        return True

    @api.model
    def _l10n_efact_aoc_pull_attachments(self, credential):
        """Attachments sent after their invoice, store first: each one is downloaded into the inbox
        row of its invoice (a row of its own while the invoice is unknown) and committed, then
        attached to the bill (committed), and only then deleted on eFACT. An attachment whose
        invoice has no bill yet stays pending on eFACT (and stored in the inbox)."""
        done = 0
        for nif, company in sorted(self._l10n_efact_aoc_company_by_nif(credential).items()):
            done += self._l10n_efact_aoc_pull_attachments_of(credential, company, nif)
        return done

    @api.model
    def _l10n_efact_aoc_pull_attachments_of(self, credential, companies, nif):
        """The late attachments of the invoices addressed to `nif` (one request per company served,
        logged against it); one whose invoice belongs to no company of `companies` is left pending."""
        Credential = self.env["einvoice.credential"]
        Doc = self.env["l10n_efact_aoc.document"].sudo()
        Inbox = self.env["l10n_efact_aoc.inbox"].sudo()
        api = credential._l10n_efact_aoc_rcf_client(record=companies)
        offered, done = set(), 0
        for _page in range(100):
            items, more = api.pending_attachments(nif=nif)
            fresh = [i for i in items if i.id not in offered]
            for item in fresh:
                offered.add(item.id)
                doc = Doc.search(
                    [
                        ("direction", "=", "in"),
                        ("hub_id", "=", item.invoice_id),
                        ("company_id", "in", companies.ids),
                        ("move_id", "!=", False),
                    ],
                    limit=1,
                )
                bill = doc.move_id.sudo()
                stored = Inbox._l10n_efact_aoc_late_attachment(credential, companies, item)
                if not stored and not (bill and bill._l10n_efact_aoc_has_attachment(item.id)):
                    company = doc.company_id or Inbox._l10n_efact_aoc_late_attachment_company(api, companies, item)
                    if not company:
                        continue  # addressed to no company of this connection: left pending on eFACT
                    content, mime = api.get_attachment(item.invoice_id, item.id)
                    stored = Inbox._l10n_efact_aoc_store_late_attachment(credential, company, item, content, mime)
                    Credential._einvoice_commit()  # stored before it is attached or deleted on eFACT
                if not bill:
                    continue  # its invoice is not imported yet: kept here and on eFACT, next run
                if stored and bill._l10n_efact_aoc_store_attachment(item.id, item.name, stored.raw, stored.mimetype):
                    bill.with_context(no_new_invoice=True).message_post(
                        body=_("eFACT sent a new attachment: %s", item.name)
                        if stored.raw
                        else _(
                            "eFACT sent a new attachment, %s, but it is empty (0 bytes): ask the supplier to send it "
                            "again.",
                            item.name,
                        )
                    )
                Credential._einvoice_commit()  # attached before it is deleted on eFACT
                api.delete_pending_attachment(item.id)
                done += 1
            if not more or not fresh:
                break
        return done

    # -- life-cycle reports --------------------------------------------------------------
    def _l10n_efact_aoc_in_document(self):
        self.ensure_one()
        return self.l10n_efact_aoc_document_ids.filtered(lambda d: d.direction == "in").sorted("id", reverse=True)[:1]

    def _l10n_efact_aoc_queue(self, state, **values):
        """Queue a life-cycle report (once per state) for the received invoice."""
        self.ensure_one()
        doc = self._l10n_efact_aoc_in_document()
        if not doc:
            return self.env["l10n_efact_aoc.report"]
        existing = doc.report_ids.filtered(lambda r: r.state == state and r.status != "error")
        if existing:
            return existing
        report = self.env["l10n_efact_aoc.report"].sudo().create(dict(values, document_id=doc.id, state=state))
        if not self.env.context.get("l10n_efact_aoc_no_report_trigger"):  # a batch triggers once at its end
            self.env["l10n_efact_aoc.report"]._l10n_efact_aoc_trigger()
        return report

    def _l10n_efact_aoc_register(self, post=True):
        """Give the bill its accounting registry number and queue ANNOTATED. Returns the last number
        given; `post=False` leaves saying so to the caller (one chatter entry per received bill)."""
        number = False
        for bill in self:
            doc = bill._l10n_efact_aoc_in_document()
            if not doc or doc.report_ids.filtered(lambda r: r.state == "ANNOTATED" and r.status != "error"):
                continue
            number = doc.rcf_number or bill.company_id._l10n_efact_aoc_registry_sequence().sudo().next_by_id()
            bill.check_access("write")  # the document is the system's: written once the user may change the bill
            doc.sudo().rcf_number = number
            bill._l10n_efact_aoc_queue("ANNOTATED", rcf_number=number)
            if post:
                bill.with_context(no_new_invoice=True).message_post(
                    body=_(
                        "Registered in the accounting registry of invoices with number %s.",
                        number,
                    )
                )
        return number

    def action_l10n_efact_aoc_register(self):
        for bill in self:
            if bill.l10n_efact_aoc_import_warning and not self.env.context.get("l10n_efact_aoc_confirm"):
                raise UserError(
                    _(
                        "Check the import warning of %s before registering it.",
                        bill.display_name,
                    )
                )
        self._l10n_efact_aoc_register()
        return True

    def _l10n_efact_aoc_on_post(self):
        for bill in self.filtered(lambda m: m.is_purchase_document() and m._l10n_efact_aoc_in_document()):
            bill._l10n_efact_aoc_register()  # ANNOTATED must come first
            bill._l10n_efact_aoc_queue("RECOGNISED")

    def _check_and_decode_attachment(self, attachments):
        # EXTENDS 'account'
        if self.l10n_efact_aoc_document_ids.filtered(lambda d: d.direction == "in"):
            # made from the Facturae eFACT delivered: a file dropped on it later is a plain attachment,
            # not an invoice to import (core would only say it was not updated from it)
            return False
        return super()._check_and_decode_attachment(attachments)

    def _post(self, soft=True):
        # EXTENDS 'account'
        posted = super()._post(soft=soft)
        posted._l10n_efact_aoc_on_post()
        return posted

    def _l10n_efact_aoc_payment_date(self):
        """The date the bill became paid: the latest reconciliation of its payable lines."""
        self.ensure_one()
        lines = self.line_ids.filtered(lambda line: line.account_type == "liability_payable")
        dates = []
        for partial in lines.matched_debit_ids | lines.matched_credit_ids:
            counterpart = partial.debit_move_id if partial.credit_move_id in lines else partial.credit_move_id
            dates.append(counterpart.date)  # the payment's date, not the bill's
        return max(dates, default=False)

    @api.model
    def _l10n_efact_aoc_queue_paid_reports(self):
        bills = self.search(
            [
                ("l10n_efact_aoc_document_ids.direction", "=", "in"),
                ("l10n_efact_aoc_document_ids.hub_state", "not in", ("paid", "rejected")),
                ("payment_state", "in", ("paid", "in_payment")),
                ("state", "=", "posted"),
            ]
        )
        for bill in bills:
            doc = bill._l10n_efact_aoc_in_document()
            if doc.hub_state == "rejected" or doc.report_ids.filtered(lambda r: r.state in ("PAID", "REJECTED")):
                continue
            date = bill._l10n_efact_aoc_payment_date()
            if date:
                bill._l10n_efact_aoc_on_post()
                bill._l10n_efact_aoc_queue("PAID", payment_date=date)

    def action_l10n_efact_aoc_report_received(self):
        for bill in self:
            bill._l10n_efact_aoc_register()
            bill._l10n_efact_aoc_queue("RECEIVED")
        return True

    def action_l10n_efact_aoc_report_accepted(self):
        for bill in self:
            bill._l10n_efact_aoc_register()
            bill._l10n_efact_aoc_queue("ACCEPTED")
        return True

    def action_l10n_efact_aoc_reject(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "l10n_efact_aoc.reject.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    def action_l10n_efact_aoc_link(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "l10n_efact_aoc.link.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    @api.model
    def _l10n_efact_aoc_demo_invoices(self, company_id, partner_id):
        """Two draft invoices to the demo public body (demo data only)."""
        company = self.env["res.company"].browse(company_id)
        journal = self.env["account.journal"].search(
            [
                *self.env["account.journal"]._check_company_domain(company),
                ("type", "=", "sale"),
            ],
            limit=1,
        )
        if not journal:
            return
        # the line's VAT (Facturae needs one per line): the company's default sale tax, else a 21 % one
        tax = company.account_sale_tax_id or self.env["account.tax"].search(
            [
                *self.env["account.tax"]._check_company_domain(company),
                ("type_tax_use", "=", "sale"),
                ("amount_type", "=", "percent"),
                ("amount", "=", 21.0),
            ],
            limit=1,
        )
        for amount in (1200.0, 350.0):
            self.with_company(company).create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner_id,
                    "journal_id": journal.id,
                    "company_id": company.id,
                    "invoice_date": fields.Date.context_today(self),
                    "invoice_line_ids": [
                        (
                            0,
                            0,
                            {
                                "name": "Serveis de manteniment",
                                "quantity": 1,
                                "price_unit": amount,
                                "tax_ids": [(6, 0, tax.ids)],
                            },
                        )
                    ],
                }
            )

    # -- Facturae import: domestic purchase taxes -------------------------------------------
    def _search_tax_for_import(self, company, amount, is_fixed, is_withheld, is_purchase, price_included):
        # EXTENDS 'l10n_es_edi_facturae'
        taxes = super()._search_tax_for_import(company, amount, is_fixed, is_withheld, is_purchase, price_included)
        if not self.env.context.get("l10n_efact_aoc_import") or not is_purchase or is_withheld or is_fixed:
            return taxes
        candidates = self.env["account.tax"].search(
            [
                ("company_id", "=", company.id),
                ("amount", "=", amount),
                ("amount_type", "=", "percent"),
                ("type_tax_use", "=", "purchase"),
                ("price_include", "=", price_included),
            ]
        )
        default = company.account_purchase_tax_id
        if default in candidates:
            return default

        def domestic(tax):
            if "l10n_es_type" in tax._fields and tax.l10n_es_type != "sujeto":
                return False
            if "l10n_es_bien_inversion" in tax._fields and tax.l10n_es_bien_inversion:
                return False
            return not any(line.factor_percent < 0 for line in tax.invoice_repartition_line_ids)

        return candidates.filtered(domestic)[:1] or taxes


def _parse(value):
    from .l10n_efact_aoc_document import parse_hub_datetime

    return parse_hub_datetime(value)
