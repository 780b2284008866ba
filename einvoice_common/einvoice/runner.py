"""Serve sandbox WSGI apps on 127.0.0.1: in a thread (tests, benchmarks) or as a process.

Thread:
    with serve(FaultInjector(make_app())) as server:
        client = Client(Transport(server.url), ...)

Process (used by setup/run):
    python einvoice_common/einvoice/runner.py serve-all --config sandboxes.json
where the JSON is {"sandboxes": [{"name": "anaf", "factory": "pkg.module:make_app",
"port": 8071, "options": {...}, "faults": {"latency": 0.05, "error_rate": 0.01}}]}.
A factory takes keyword options and returns a WSGI app. With "state_file", the sandbox's
state is restored from that file at start and saved there while it runs and at stop
(persist.py): setup/run keeps it per database under .local/sandbox-state/.
"""

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import threading
import types

_logger = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


def _handler_class():
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        """Log at debug level: injected connection drops are expected, not errors."""

        def log(self, type, message, *args):
            _logger.debug("sandbox %s: " + message, type, *args)

        def log_error(self, *args):
            _logger.debug("sandbox error: %s", args)

        def connection_dropped(self, error, environ=None):
            _logger.debug("sandbox connection dropped: %s", error)

    return QuietHandler


class Server:
    """A WSGI app listening on loopback in a daemon thread."""

    def __init__(self, app, port=0, host=LOOPBACK):
        from werkzeug.serving import make_server

        if host not in (LOOPBACK, "localhost", "::1"):
            raise ValueError("sandboxes only listen on loopback")
        self.app = app
        self._server = make_server(host, port, app, threaded=True, request_handler=_handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"sandbox-{self.port}", daemon=True)
        self.keeper = None  # persist.Keeper when the state is kept across restarts

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        stopping = getattr(self.app, "stopping", None)
        if stopping is not None:
            stopping.set()  # release requests parked by a "slow" fault
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        if self.keeper is not None:
            self.keeper.stop()  # after the last request: the saved state is the final one

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def serve(app, port=0):
    """Start `app` on 127.0.0.1 (a free port by default) and return the running Server."""
    return Server(app, port=port).start()


def register_addon_packages(repo_root):
    """Make `<addon>.<pure package>` importable without running the addon's __init__ (which needs Odoo)."""
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    for name in sorted(os.listdir(repo_root)):
        folder = os.path.join(repo_root, name)
        if name in sys.modules or not os.path.isfile(os.path.join(folder, "__manifest__.py")):
            continue
        module = types.ModuleType(name)
        module.__path__ = [folder]
        sys.modules[name] = module


def load_factory(spec):
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute or "make_app")


def build(entry):
    from .faults import FaultInjector

    app = load_factory(entry["factory"])(**entry.get("options", {}))
    return FaultInjector(app, **entry.get("faults", {}))


def serve_all(config):
    """Serve every entry; an entry with "state_file" keeps its state there across restarts."""
    from . import persist

    servers = []
    for entry in config["sandboxes"]:
        app, state_file, note = build(entry), entry.get("state_file"), ""
        if state_file:
            note = " (state restored)" if persist.load(app, state_file) else " (new state)"
        server = serve(app, port=entry.get("port", 0))
        if state_file:
            server.keeper = persist.Keeper(app, state_file).start()
        servers.append(server)
        sys.stdout.write(f"sandbox {entry['name']}: {server.url}{note}\n")
        sys.stdout.flush()
    return servers


def main(argv=None):
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    register_addon_packages(repo_root)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("serve", help="serve one sandbox")
    one.add_argument("factory", help="module:function returning a WSGI app")
    one.add_argument("--port", type=int, default=0)
    one.add_argument("--latency", type=float, default=0.0)
    one.add_argument("--error-rate", type=float, default=0.0)
    one.add_argument("--lost-rate", type=float, default=0.0)
    one.add_argument("--rate-limit-per-minute", type=int, default=0)
    many = sub.add_parser("serve-all", help="serve the sandboxes listed in a JSON file")
    many.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    if args.command == "serve":
        faults = dict(
            latency=args.latency,
            error_rate=args.error_rate,
            lost_rate=args.lost_rate,
            rate_limit_per_minute=args.rate_limit_per_minute,
        )
        config = {
            "sandboxes": [
                {
                    "name": args.factory,
                    "factory": args.factory,
                    "port": args.port,
                    "faults": faults,
                }
            ]
        }
    else:
        with open(args.config, encoding="utf-8") as handle:
            config = json.load(handle)
    servers = serve_all(config)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops it
        done.wait()
    for server in servers:
        server.stop()


if __name__ == "__main__":
    if __package__ in (None, ""):
        # Run as a file: import ourselves as part of the einvoice_common package.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        register_addon_packages(root)
        importlib.import_module("einvoice_common.einvoice.runner").main()
    else:
        main()
