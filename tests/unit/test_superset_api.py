"""pilotage/superset_api.py against a stand-in for production Superset: its session cookie is
Secure (TLS ends at the proxy) while the pipeline talks to Superset directly over HTTP, and every
write's CSRF check needs that cookie back."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pilotage.superset_api import SupersetAPI


class _ProductionSuperset(BaseHTTPRequestHandler):
    writes: list[tuple[str, str | None, str | None]] = []  # (path, Cookie, X-CSRFToken)

    def log_message(self, *_args) -> None:
        pass

    def _answer(self, status: int, body: dict, cookie: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if cookie:
            self.send_header("Set-Cookie", f"session={cookie}; Secure; HttpOnly; Path=/")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(200, {"access_token": "jwt"})

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/api/v1/security/csrf_token/"):
            self._answer(200, {"result": "csrf-1"}, cookie="with-csrf-1")
        else:
            dataset = {"id": 7, "table_name": "kpi", "extra": None}
            dataset["database"] = {"database_name": "pilotage_serving"}
            self._answer(200, {"result": [dataset]})

    def do_PUT(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        cookie, token = self.headers.get("Cookie"), self.headers.get("X-CSRFToken")
        type(self).writes.append((self.path, cookie, token))
        if cookie != "session=with-csrf-1" or token != "csrf-1":
            self._answer(400, {"message": "The CSRF session token is missing."})
        else:  # Superset re-issues the session cookie, Secure again
            self._answer(200, {"result": {}}, cookie="with-csrf-1")


def test_writes_send_the_secure_session_cookie_back_over_plain_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ProductionSuperset)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = SupersetAPI(f"http://127.0.0.1:{server.server_port}", "admin", "pw", timeout=10)
        assert api.expire_results("pilotage_serving", "2026-11-15T12:00:00") == ["kpi"]
        assert api.expire_results("pilotage_serving", "2026-11-15T13:00:00") == ["kpi"]
    finally:
        server.shutdown()
        server.server_close()
    assert _ProductionSuperset.writes == [
        ("/api/v1/dataset/7", "session=with-csrf-1", "csrf-1"),
        ("/api/v1/dataset/7", "session=with-csrf-1", "csrf-1"),
    ]
