from odoo.modules.neutralize import get_installed_modules, get_neutralization_queries
from odoo.tests import tagged

from ..einvoice import errors
from .common import DemoServiceCase

SECRETS = (
    "username",
    "password",
    "client_id",
    "client_secret",
    "secret_key",
    "api_token",
    "access_token",
    "refresh_token",
)


@tagged("post_install", "-at_install")
class TestNeutralize(DemoServiceCase):
    """A neutralized copy holding production connections reaches no production host."""

    def neutralize(self):
        for query in get_neutralization_queries(get_installed_modules(self.env.cr)):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.env.registry.clear_cache()

    def production_connections(self):
        Credential = self.env["einvoice.credential"]
        services = [key for key, _label in Credential._fields["service"]._description_selection(self.env)]
        return Credential.create(
            [
                {
                    "name": f"{service} production",
                    "service": service,
                    "environment": "production",
                    "base_url": f"https://{service}.example.com/api",
                    **{name: f"{name}-{service}-0001" for name in SECRETS},
                    "state": "connected",
                }
                for service in services
            ]
        )

    def test_neutralized_connections_lose_url_secrets_and_tokens(self):
        credentials = self.production_connections()
        self.neutralize()
        for credential in credentials.sudo():
            self.assertEqual((credential.environment, credential.state), ("sandbox", "draft"), credential.service)
            self.assertFalse(credential.base_url and not credential.base_url.startswith("http://127.0.0.1"))
            self.assertFalse([name for name in SECRETS if credential[name]], credential.service)

    def test_no_call_leaves_a_neutralized_copy_even_if_a_url_is_put_back(self):
        credentials = self.production_connections()
        self.neutralize()
        calls_before = len(self.faults.calls)
        for credential in credentials:
            # what an addon's script might forget, or a person might type back on the copy
            credential.write({"environment": "production", "base_url": "https://efact.aoc.cat"})
            with credential._einvoice_transport() as transport, self.assertRaises(errors.HostRefused):
                transport.post("/documents", operation="send", data=b"{}")
            with credential._einvoice_transport() as transport, self.assertRaises(errors.HostRefused):
                transport.get("HTTPS://Other.Host/x.zip", operation="download")
        # the local sandbox is still reachable from the copy
        demo = credentials.filtered(lambda c: c.service == "demo")
        demo.write({"base_url": self.server.url})
        with demo._einvoice_transport() as transport, self.assertRaises(errors.AuthError) as caught:
            transport.get("/documents", operation="list", params={"reference": "x"})
        self.assertEqual(caught.exception.status, 401)
        self.assertEqual(len(self.faults.calls), calls_before + 1)

    def test_a_sandbox_connection_reaches_loopback_only(self):
        credential = self.make_credential(environment="sandbox", base_url="https://efact.aoc.cat")
        with credential._einvoice_transport() as transport, self.assertRaises(errors.HostRefused):
            transport.get("/x", operation="probe")
