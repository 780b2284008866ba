import pytest

from einvoice_common.einvoice.faults import FaultInjector
from einvoice_common.einvoice.transport import Transport
from l10n_efact_aoc.efact import client as efact_client
from l10n_efact_aoc.efact import sandbox

SECRET = "s3cr3t-key-for-tests"


@pytest.fixture
def hub(serve_app):
    """(app, injector, server) with a supplier user and an RCF user serving 2 entities."""

    def start(**options):
        users = options.pop("users", None) or {
            "prov": {"secret": SECRET, "roles": ["proveidors"]},
            "rcf": {
                "secret": SECRET,
                "roles": ["rcf"],
                "nifs": ["ESP0800001J", "ESP0800002H"],
            },
        }
        app = sandbox.make_app(users=users, **options)
        injector = FaultInjector(app)
        server = serve_app(injector)
        return app, injector, server

    return start


def transport_for(server, user, secret=SECRET, **kwargs):
    kwargs.setdefault("sleep", lambda s: None)
    return Transport(server.url, service="eFACT", auth=efact_client.JwtAuth(user, secret), **kwargs)


@pytest.fixture
def supplier(hub):
    app, injector, server = hub()
    return app, injector, efact_client.SupplierClient(transport_for(server, "prov"))


@pytest.fixture
def rcf(hub):
    app, injector, server = hub()
    return app, injector, efact_client.RcfClient(transport_for(server, "rcf"))
