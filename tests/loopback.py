"""A file server on 127.0.0.1 that misbehaves on request, for download tests.

Each route maps a path to bytes and a behaviour: ``ok`` (Range supported), ``truncate`` (promise
the whole length, send half, close), ``stall`` (send half, then go silent), ``status`` (answer
an HTTP status for the first ``times`` requests, then serve), ``cut-once`` (the first request is
cut halfway, later ones are served, Range honoured), ``redirect`` (to ``location``).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes
    behaviour: str = "ok"
    status: int = 500
    times: int = 1
    stall_seconds: float = 5.0
    delay: float = 0.0  # seconds before the body is sent (a slow server)
    location: str = ""  # where a "redirect" route sends the client
    requests: list = field(default_factory=list)  # the Range header of each request (or None)


class LoopbackServer:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                route.requests.append(self.headers.get("Range"))
                count = len(route.requests)
                if route.behaviour == "status" and count <= route.times:
                    self.send_response(route.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route.behaviour == "redirect":
                    self.send_response(302)
                    self.send_header("Location", route.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                time.sleep(route.delay)
                body, start = route.body, 0
                rng = self.headers.get("Range")
                if rng and route.behaviour in ("ok", "cut-once", "status"):
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                half = start + (len(body) - start) // 2
                cut = route.behaviour in ("truncate", "stall") or (route.behaviour == "cut-once" and count == 1)
                if not cut:
                    self.wfile.write(body[start:])
                    return
                self.wfile.write(body[start:half])
                self.wfile.flush()
                if route.behaviour == "stall":
                    time.sleep(route.stall_seconds)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, body: bytes, behaviour: str = "ok", **options) -> str:
        self.routes[path] = Route(body, behaviour, **options)
        return self.url(path)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
