"""A small generic service used by einvoice_common's own tests and benchmarks.

- POST /oauth/token: OAuth2 client-credentials in HTTP Basic; grants
  `refresh_token` (rotating: a used refresh token stops working) and
  `authorization_code`. Access tokens are unsigned JWTs with `exp`.
- POST /oauth/revoke: RFC 7009 revocation (client credentials in HTTP Basic).
- POST /documents (Bearer): stores a document, answers {"id", "reference"}.
- GET /documents?reference=R (Bearer): lists stored documents with that reference,
  which is how a client reconciles a lost answer.

Dialects (`service.dialect`), for answers the client was not written against:
  "standard"  201 {"id", "reference", "sha256"}
  "wrapped"   201 {"status": "OK", "result": {"document": {...}}}: a success in another shape
"""

import base64
import hashlib
import itertools
import json
import threading
import time
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response


def _b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class DemoService:
    def __init__(
        self,
        client_id="client",
        client_secret="secret",
        access_ttl=3600,
        clock=time.time,
    ):
        self.client_id, self.client_secret = client_id, client_secret
        self.access_ttl = access_ttl
        self.clock = clock
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.refresh_tokens = {}  # token -> active?
        self.access_tokens = set()
        self.documents = []
        self.bodies = []  # raw bytes of every stored document, in order
        self.refresh_calls = 0
        self.dialect = "standard"

    def issue(self):
        n = next(self.counter)
        exp = int(self.clock()) + self.access_ttl
        access = f"{_b64({'alg': 'none'})}.{_b64({'exp': exp, 'n': n})}.sig{n}"
        refresh = f"refresh-{n}-{int(self.clock() * 1000)}"
        self.access_tokens.add(access)
        self.refresh_tokens[refresh] = True
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.access_ttl,
            "token_type": "Bearer",
        }

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path == "/oauth/token" and request.method == "POST":
            response = self.token(request)
        elif request.path == "/oauth/revoke" and request.method == "POST":
            response = self.revoke(request)
        elif request.path == "/documents":
            response = self.documents_endpoint(request)
        else:
            response = _json({"error": "not_found"}, 404)
        return response(environ, start_response)

    def token(self, request):
        auth = request.authorization
        if not auth or (auth.username, auth.password) != (
            self.client_id,
            self.client_secret,
        ):
            return _json({"error": "invalid_client"}, 401)
        form = parse_qs(request.get_data(as_text=True))
        grant = form.get("grant_type", [""])[0]
        with self.lock:
            if grant == "refresh_token":
                token = form.get("refresh_token", [""])[0]
                if not self.refresh_tokens.get(token):
                    return _json(
                        {
                            "error": "invalid_grant",
                            "error_description": "refresh token revoked",
                        },
                        400,
                    )
                self.refresh_tokens[token] = False
                self.refresh_calls += 1
                return _json(self.issue())
            if grant == "authorization_code" and form.get("code", [""])[0] == "good-code":
                return _json(self.issue())
        return _json({"error": "invalid_grant"}, 400)

    def revoke(self, request):
        """RFC 7009: the token stops working; an unknown token is answered 200 as well."""
        auth = request.authorization
        if not auth or (auth.username, auth.password) != (self.client_id, self.client_secret):
            return _json({"error": "invalid_client"}, 401)
        token = parse_qs(request.get_data(as_text=True)).get("token", [""])[0]
        with self.lock:
            if token in self.refresh_tokens:
                self.refresh_tokens[token] = False
            self.access_tokens.discard(token)
        return _json({})

    def documents_endpoint(self, request):
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if token not in self.access_tokens or self._expired(token):
            return _json({"error": "invalid_token"}, 401)
        if request.method == "POST":
            raw = request.get_data()
            body = request.get_json(silent=True) or {}
            with self.lock:
                document = {
                    "id": len(self.documents) + 1,
                    "reference": body.get("reference", ""),
                    "sha256": hashlib.sha256(raw).hexdigest(),
                }
                self.documents.append(document)
                self.bodies.append(raw)
            if self.dialect == "wrapped":
                return _json({"status": "OK", "result": {"document": document}}, 201)
            return _json(document, 201)
        reference = request.args.get("reference")
        return _json([d for d in self.documents if d["reference"] == reference])

    def _expired(self, token):
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))["exp"] < self.clock()


def _json(data, status=200):
    return Response(json.dumps(data), status=status, content_type="application/json")


def make_app(**options):
    return DemoService(**options)
