#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the network tests: it sits in front of an S3 server (moto)
on loopback and, per request, passes it through or injects a fault, deterministically from a
seed:

  reset     forward the response's head and part of its body, then reset the connection
  503       answer 503 ServiceUnavailable itself (an S3 error document), close
  slowdown  answer 503 SlowDown itself, close
  stall     wait before forwarding the response

  tests/faultproxy.py --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT \\
      [--rate 0.1] [--faults reset,503,slowdown,stall] [--seed 7] [--reset-every-object]

--reset-every-object: the first GET of every object whose key ends in `.age` is reset in the
middle of its body (exactly half way), whatever the rate; later GETs of it pass.
Prints `listening on HOST:PORT` once ready, then one line per injected fault. HTTP/1.1 with
Content-Length or chunked bodies, one request at a time per connection (no pipelining), as
the AWS SDK sends them.
"""

import argparse
import asyncio
import random
import sys

S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
    "<Message>injected by faultproxy</Message><RequestId>faultproxy-{n}</RequestId></Error>"
)


async def read_head(reader):
    """Reads an HTTP head (request or response) up to the blank line; b'' at EOF."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        return e.partial if e.partial else b""


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name:
            return v.strip()
    return None


async def copy_body(head, reader, writer, limit=None, is_response=True, request_method=b"GET"):
    """Forwards the body that follows `head`. With `limit`, stops after that many body bytes
    and returns False (the caller resets the connection)."""
    status = head.split(b" ", 2)[1] if is_response else b""
    if is_response and (request_method == b"HEAD" or status in (b"204", b"304")):
        return True
    length = header(head, b"content-length")
    if length is not None:
        remaining = int(length)
        sent = 0
        while remaining > 0:
            want = min(remaining, 65536)
            if limit is not None:
                want = min(want, limit - sent)
                if want <= 0:
                    return False
            chunk = await reader.read(want)
            if not chunk:
                return True
            writer.write(chunk)
            await writer.drain()
            remaining -= len(chunk)
            sent += len(chunk)
        return True
    if (header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            writer.write(size_line)
            size = int(size_line.split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            writer.write(data)
            await writer.drain()
            if size == 0:
                return True
    if is_response:
        # No length: the body runs to the end of the connection.
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return True
            writer.write(chunk)
            await writer.drain()
    return True


class Proxy:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.faults = [f for f in args.faults.split(",") if f]
        self.seen = set()
        self.requests = 0
        self.upstream = args.upstream.rsplit(":", 1)

    def decide(self, method, path):
        """The fault for one request, or None."""
        self.requests += 1
        key = path.split(b"?")[0]
        if self.args.reset_every_object and method == b"GET" and key.endswith(b".age"):
            if key not in self.seen:
                self.seen.add(key)
                return "reset-half"
            return None
        if self.rng.random() < self.args.rate:
            return self.rng.choice(self.faults)
        return None

    async def handle(self, creader, cwriter):
        up_reader = up_writer = None
        try:
            while True:
                head = await read_head(creader)
                if not head.endswith(b"\r\n\r\n"):
                    return
                method, path = head.split(b" ", 2)[:2]
                fault = self.decide(method, path)
                # The request body (PUT) is read either way, so the connection stays in step.
                body = bytearray()
                length = header(head, b"content-length")
                if length is not None and int(length) > 0:
                    body = await creader.readexactly(int(length))
                if fault in ("503", "slowdown"):
                    code = "ServiceUnavailable" if fault == "503" else "SlowDown"
                    doc = S3_ERROR.format(code=code, n=self.requests).encode()
                    cwriter.write(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(doc)
                        + doc
                    )
                    await cwriter.drain()
                    print(f"fault {fault} {method.decode()} {path.decode()}", flush=True)
                    return
                if up_writer is None:
                    up_reader, up_writer = await asyncio.open_connection(*self.upstream)
                up_writer.write(head + bytes(body))
                await up_writer.drain()
                rhead = await read_head(up_reader)
                if not rhead:
                    return
                if fault == "stall":
                    print(f"fault stall {method.decode()} {path.decode()}", flush=True)
                    await asyncio.sleep(self.rng.uniform(0.2, 1.5))
                limit = None
                if fault in ("reset", "reset-half"):
                    length = int(header(rhead, b"content-length") or 0)
                    if length > 1:
                        limit = length // 2 if fault == "reset-half" else self.rng.randrange(1, length)
                cwriter.write(rhead)
                await cwriter.drain()
                whole = await copy_body(rhead, up_reader, cwriter, limit, True, method)
                if not whole:
                    print(f"fault {fault} {method.decode()} {path.decode()} after {limit} bytes", flush=True)
                    cwriter.transport.abort()
                    return
                # The server closes after this response (HTTP/1.0, or said so): so does the
                # client, which sees the same head.
                if rhead.startswith(b"HTTP/1.0") or (header(rhead, b"connection") or b"").lower() == b"close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            for w in (cwriter, up_writer):
                if w is not None and not w.transport.is_closing():
                    w.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--upstream", required=True)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--faults", default="reset,503,slowdown,stall")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--reset-every-object", action="store_true")
    args = p.parse_args()
    proxy = Proxy(args)
    host, port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(proxy.handle, host, int(port))
    addr = server.sockets[0].getsockname()
    print(f"listening on {addr[0]}:{addr[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
