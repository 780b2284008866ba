"""What a connection's form shows to an administrator, for the addons' form tests."""

from lxml import etree

from odoo.tests import Form
from odoo.tools.safe_eval import safe_eval

SECRET_FIELDS = ("username", "password", "secret_key", "api_token", "client_id", "client_secret")


def connection_form_shows(credential):
    """The secret fields shown on `credential`'s form, plus "refresh" when Refresh token is offered.

    Evaluates the view's `invisible` expressions (the field's and its groups') on the record,
    as the web client does, for the administrator.
    """
    credential = credential.with_user(credential.env.ref("base.user_admin"))
    form = Form(credential)
    shown = {name for name in SECRET_FIELDS if not form._get_modifier(name, "invisible")}
    arch = etree.fromstring(credential.get_views([(False, "form")])["views"]["form"]["arch"])
    for button in arch.xpath("//button[@name='action_einvoice_refresh_token']"):
        if not safe_eval(button.get("invisible") or "False", form._get_eval_context()):
            shown.add("refresh")
    return shown
