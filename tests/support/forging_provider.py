"""An OpenID provider on loopback that can be told to misbehave: sign with another key, name
another audience or issuer, send expired tokens, no nonce, no ID token, or fail outright.
The real provider (``oidc.py``) proves sign-in works; this one proves forgeries do not."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})  # same kid


@dataclass
class Provider:
    issuer: str
    client_id: str = "imagehub"
    forge: dict[str, Any] = field(default_factory=dict)  # how the next tokens lie
    named_issuer: str = ""  # what discovery calls the issuer (default: the real one)
    nonces: dict[str, str | None] = field(default_factory=dict)  # code → nonce
    redirects: list[str] = field(default_factory=list)  # redirect_uri of each authorization
    challenges: list[str] = field(default_factory=list)  # code_challenge_method of each

    def id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.forge.get("iss", self.issuer),
            "sub": "subject-1",
            "aud": self.forge.get("aud", self.client_id),
            "iat": now,
            "exp": self.forge.get("exp", now + 300),
            "preferred_username": self.forge.get("preferred_username", "dana"),
        }
        if nonce is not None and not self.forge.get("no_nonce"):
            claims["nonce"] = nonce
        key = OTHER_KEY if self.forge.get("other_key") else SIGNING_KEY
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.named_issuer or self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def token(self, code: str) -> tuple[int, str, bytes]:
        if status := self.forge.get("token_status"):
            return status, "text/html", b"<html>the provider failed</html>"
        body: dict[str, Any] = {"access_token": secrets.token_urlsafe(8), "token_type": "Bearer"}
        if not self.forge.get("no_id_token"):
            body["id_token"] = self.id_token(self.nonces.pop(code, None))
        return 200, "application/json", json.dumps(body).encode()


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            return None

        def answer(self, status: int, kind: str, body: bytes, location: str = "") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self.answer(200, "application/json", json.dumps(provider.discovery()).encode())
            elif url.path == "/jwks":
                keys = {"keys": [SIGNING_KEY.as_dict(private=False)]}
                self.answer(200, "application/json", json.dumps(keys).encode())
            elif url.path == "/authorize":
                code = secrets.token_urlsafe(8)
                provider.nonces[code] = query.get("nonce")
                provider.redirects.append(query["redirect_uri"])
                provider.challenges.append(query.get("code_challenge_method", ""))
                back = (
                    query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
                )
                self.answer(302, "text/plain", b"", back)
            else:
                self.answer(404, "text/plain", b"")

        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
            self.answer(*provider.token(form.get("code", [""])[0]))

    return Handler


@contextmanager
def forging_provider(port: int) -> Iterator[Provider]:
    provider = Provider(f"http://127.0.0.1:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(provider))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
