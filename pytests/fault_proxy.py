"""A loopback HTTP proxy in front of moto's server that fails chosen requests.

Each ``Fault`` picks requests by method and a regex on the path (with query),
and fails the first ``times`` attempts of each distinct request it picks (the
same method, path and query is the same request):

- ``"500"``: 500 InternalError; ``"503"``: 503 SlowDown (S3's throttling);
- ``"reset"``: the request is read, then the connection is reset (RST), no answer;
- ``"truncate"``: the real answer's headers and half of its body, then a reset.

Every other request goes to moto unchanged. ``FaultProxy`` is a context manager
that always stops its threads; ``injected`` counts the failures it made.
"""

import http.client
import http.server
import re
import socket
import struct
import threading

from moto_server import free_port

_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te",
                "upgrade", "trailer"}


class Fault(object):
    def __init__(self, mode, method=None, path=".*", times=1):
        if mode not in ("500", "503", "reset", "truncate"):
            raise ValueError("unknown fault mode %r" % mode)
        self.mode = mode
        self.method = method
        self.path = re.compile(path)
        self.times = times


class FaultProxy(object):
    def __init__(self, upstream_port, faults=()):
        self.upstream_port = upstream_port
        self.faults = list(faults)
        self.port = None
        self.injected = {"500": 0, "503": 0, "reset": 0, "truncate": 0}
        self.requests = 0
        self._seen = {}
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def set_faults(self, faults):
        with self._lock:
            self.faults = list(faults)
            self._seen = {}

    def _fault_for(self, method, path):
        """The fault this attempt gets, or None; counts attempts per request."""
        with self._lock:
            self.requests += 1
            for index, fault in enumerate(self.faults):
                if fault.method not in (None, method) or not fault.path.search(path):
                    continue
                key = (index, method, path)
                self._seen[key] = self._seen.get(key, 0) + 1
                if self._seen[key] <= fault.times:
                    self.injected[fault.mode] += 1
                    return fault
                return None
            return None

    def start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reset(self):
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _handle(self):
                body = self._body()
                fault = proxy._fault_for(self.command, self.path)
                if fault is not None and fault.mode in _ERRORS:
                    status, code, message = _ERRORS[fault.mode]
                    payload = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                               "<Message>%s</Message></Error>" % (code, message)).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                if fault is not None and fault.mode == "reset":
                    self._reset()
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port,
                                                      timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in _HOP_HEADERS}
                    if body or self.command in ("PUT", "POST"):
                        headers["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status, answer.reason)
                    for name, value in answer.getheaders():
                        if name.lower() not in _HOP_HEADERS and name.lower() != "content-length":
                            self.send_header(name, value)
                    length = answer.getheader("Content-Length")
                    self.send_header("Content-Length",
                                     length if self.command == "HEAD" and length
                                     else str(len(data)))
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    if fault is not None and fault.mode == "truncate" and len(data) > 1:
                        self.wfile.write(data[: len(data) // 2])
                        self._reset()
                        return
                    self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.port = free_port()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
