#!/usr/bin/env python3
"""A test double for the RDS Query API errors moto does not produce on demand: an HTTP proxy
in front of moto that answers chosen actions with the real AWS error codes, in the real
error body, and forwards everything else.

  tests/rdsfault.py --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT \\
      --fail CreateDBSnapshot=SnapshotQuotaExceeded \\
      --fail CopyDBSnapshot=KMSKeyNotAccessibleFault \\
      --fail DescribeDBInstances=Throttling:2

Each --fail ACTION=CODE[:N] answers the next N requests of ACTION (default: all of them)
with HTTP 400 (503 for ServiceUnavailable) and the RDS error document

  <ErrorResponse><Error><Type>Sender</Type><Code>CODE</Code><Message>…</Message></Error>
  <RequestId>…</RequestId></ErrorResponse>

then lets the following ones through: `Throttling:2` followed by success proves the client
retries. Prints `listening on HOST:PORT` once ready, then `injected ACTION CODE` per fault.
"""

import argparse
import http.client
import http.server
import sys
import threading
import urllib.parse

ERROR = (
    '<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">'
    "<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>rdsfault-{n}</RequestId></ErrorResponse>"
)

MESSAGES = {
    "SnapshotQuotaExceeded": "Cannot create more than 100 manual snapshots",
    "KMSKeyNotAccessibleFault": "The specified KMS key does not exist or is not enabled",
    "Throttling": "Rate exceeded",
    "InvalidDBInstanceState": "Instance is not in available state",
}


class Faults:
    def __init__(self, specs):
        self.lock = threading.Lock()
        self.rules = []  # [action, code, remaining or None]
        self.count = 0
        for spec in specs:
            action, _, rest = spec.partition("=")
            code, _, n = rest.partition(":")
            self.rules.append([action, code, int(n) if n else None])

    def take(self, action):
        with self.lock:
            for rule in self.rules:
                if rule[0] == action and (rule[2] is None or rule[2] > 0):
                    if rule[2] is not None:
                        rule[2] -= 1
                    self.count += 1
                    return rule[1], self.count
        return None, 0


def make_handler(upstream, faults):
    host, _, port = upstream.partition(":")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.relay("POST")

        def do_GET(self):
            self.relay("GET")

        def relay(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            action = (form.get("Action") or query.get("Action") or [""])[0]
            code, n = faults.take(action)
            if code:
                print(f"injected {action} {code}", flush=True)
                doc = ERROR.format(
                    code=code, message=MESSAGES.get(code, "injected by rdsfault"), n=n
                ).encode()
                self.send_response(503 if code == "ServiceUnavailable" else 400)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(doc)))
                self.end_headers()
                self.wfile.write(doc)
                return
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(method, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--upstream", required=True)
    p.add_argument("--fail", action="append", default=[])
    a = p.parse_args()
    host, _, port = a.listen.partition(":")
    server = http.server.ThreadingHTTPServer(
        (host, int(port)), make_handler(a.upstream, Faults(a.fail))
    )
    print(f"listening on {host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
