"""Probes QuestDB from inside the instance (python3 standard library only).

conftest.py runs this file as `python3 -c <source> <json arguments>` in the instance; it prints one
JSON object. Kinds:
  {"kind": "http", "url", "method", "data", "user", "password"} -> {"status", "body"}
  {"kind": "pg", "host", "port", "user", "password", "query"}   -> {"auth", "error", "rows", "stage"}
"""

import base64
import contextlib
import json
import socket
import struct
import sys
import urllib.error
import urllib.request


def http(args: dict) -> dict:
    data = args.get("data")
    request = urllib.request.Request(
        args["url"], data=data.encode() if data is not None else None, method=args.get("method", "GET")
    )
    if args.get("user") is not None:
        token = base64.b64encode(f"{args['user']}:{args.get('password', '')}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return {"status": response.status, "body": response.read().decode(errors="replace")}
    except urllib.error.HTTPError as err:
        return {"status": err.code, "body": err.read().decode(errors="replace")}
    except OSError as err:
        return {"status": 0, "body": str(err)}


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by server")
        buf += chunk
    return buf


def _read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    kind = _recv_exact(sock, 1)
    (length,) = struct.unpack("!I", _recv_exact(sock, 4))
    return kind, _recv_exact(sock, length - 4)


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def _error_text(payload: bytes) -> str:
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields.get("M", repr(payload))


def pg(args: dict) -> dict:
    """Minimal PostgreSQL wire client: startup, password auth, one simple query."""
    result = {"auth": False, "error": None, "rows": [], "stage": "connect"}
    sock = socket.create_connection((args.get("host", "127.0.0.1"), int(args["port"])), timeout=15)
    try:
        params = b"user\0" + args["user"].encode() + b"\0database\0qdb\0\0"
        body = struct.pack("!I", 196608) + params
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        result["stage"] = "auth"
        while True:
            kind, payload = _read_message(sock)
            if kind == b"R":
                (code,) = struct.unpack("!I", payload[:4])
                if code == 3:
                    sock.sendall(_message(b"p", args["password"].encode() + b"\0"))
                elif code == 0:
                    result["auth"] = True
                else:
                    result["error"] = f"unsupported authentication request {code}"
                    return result
            elif kind == b"E":
                result["error"] = _error_text(payload)
                return result
            elif kind == b"Z":
                break
        if not args.get("query"):
            return result
        result["stage"] = "query"
        sock.sendall(_message(b"Q", args["query"].encode() + b"\0"))
        while True:
            kind, payload = _read_message(sock)
            if kind == b"D":
                (count,) = struct.unpack("!H", payload[:2])
                offset, row = 2, []
                for _ in range(count):
                    (size,) = struct.unpack("!i", payload[offset : offset + 4])
                    offset += 4
                    if size < 0:
                        row.append(None)
                    else:
                        row.append(payload[offset : offset + size].decode(errors="replace"))
                        offset += size
                result["rows"].append(row)
            elif kind == b"E":
                result["error"] = _error_text(payload)
            elif kind == b"Z":
                return result
    except (OSError, ConnectionError) as err:
        result["error"] = f"{type(err).__name__}: {err}"
        return result
    finally:
        with contextlib.suppress(OSError):
            sock.sendall(_message(b"X", b""))
        sock.close()


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    print(json.dumps({"http": http, "pg": pg}[request["kind"]](request)))
