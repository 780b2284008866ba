"""The one place where Odoo 18.0 and 19.0 differ for the e-invoicing addons.

Every addon imports what differs from here (``from odoo.addons.einvoice_common import compat``)
instead of testing the version itself, so a new Odoo version is handled in this file.
"""

import importlib

from odoo import api, models, release
from odoo.tools import sql

# The cursor's transaction object: odoo.api on 18.0, odoo.orm.environments on 19.0.
Transaction = getattr(api, "Transaction", None) or importlib.import_module("odoo.orm.environments").Transaction

ODOO_VERSION = release.version_info[:2]

# 19.0 renamed the JSON-RPC route type ("json" is deprecated there).
JSON_ROUTE = "jsonrpc" if ODOO_VERSION >= (19, 0) else "json"

# 19.0 renamed res.users.groups_id to group_ids.
USER_GROUPS_FIELD = "group_ids" if ODOO_VERSION >= (19, 0) else "groups_id"


def sql_constraints(namespace, constraints):
    """Declare SQL constraints from a model's class body on both versions.

    Call it in the class body as ``compat.sql_constraints(locals(), [(name, definition, message)])``.
    18.0 reads ``_sql_constraints``; 19.0 ignores it (with a warning) and reads ``models.Constraint``
    attributes named ``_<name>``: both give the same constraint name ``<table>_<name>`` in the database.
    """
    if hasattr(models, "Constraint"):
        for name, definition, message in constraints:
            namespace[f"_{name}"] = models.Constraint(definition, message)
    else:
        namespace["_sql_constraints"] = list(constraints)


def private(method):
    """``@api.private`` where it exists (19.0): the method cannot be called over RPC.

    On 18.0 a leading underscore is what keeps a method off RPC, so private methods keep one anyway.
    """
    return api.private(method) if hasattr(api, "private") else method


# 19.0 renamed ir.actions.*.groups_id to group_ids as well.
ACTION_GROUPS_FIELD = USER_GROUPS_FIELD

# The decimal precision of quantities: product's "Product Unit of Measure" on 18.0, uom's "Product Unit" on 19.0.
if ODOO_VERSION >= (19, 0):
    QUANTITY_PRECISION_XMLID, QUANTITY_PRECISION_NAME = "uom.decimal_product_uom", "Product Unit"
else:
    QUANTITY_PRECISION_XMLID, QUANTITY_PRECISION_NAME = "product.decimal_product_uom", "Product Unit of Measure"


def declared_constraints(model, modules):
    """{database name: definition} of the SQL constraints `modules` declare on `model`.

    Read from the classes that declare them (``_sql_constraints`` on 18.0, ``models.Constraint``
    attributes on 19.0), so a test can check each one really exists in the database.
    """
    found = {}
    for cls in type(model).__mro__:
        own = vars(cls)
        if own.get("_module") not in modules:
            continue
        for name, definition, _message in own.get("_sql_constraints", ()):
            found[sql.make_identifier(f"{model._table}_{name}")] = definition
        for attribute, value in own.items():
            if hasattr(models, "Constraint") and isinstance(value, models.Constraint):
                found[sql.make_identifier(f"{model._table}_{attribute[1:]}")] = value.get_definition(model.pool)
    return found
