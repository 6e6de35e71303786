#!/usr/bin/env python3
"""A fake Hugging Face Hub and IPFS trustless gateway for ipfs-accelerate's tests. Loopback only.

Usage: fake_hub.py ROOT   -- prints "PORT <n>" once listening on 127.0.0.1; exits when stdin closes or after
--max-life seconds (default 120).

ROOT/hub.json:
  {"repos": {"org/name": {"refs": {"main": COMMIT, ...}, "gated": false, "renamed_to": null}},
   "token": "hf_valid",              # the one token granted access to gated repos
   "cdn_host": "127.0.0.1",          # host name in LFS redirects (another name tests token leaks)
   "faults": {FILE: {"head_fail": N, "fail": N, "cut_after": BYTES, "cut_times": N,
                     "slow": SECONDS_PER_CHUNK, "corrupt": true}}}
ROOT/repos/org/name/COMMIT/PATH  -- file contents; *.safetensors, *.bin and files over 1 MiB are LFS files.
ROOT/blocks/CID                  -- IPFS blocks for /ipfs/CID?format=raw (and CARs built from them).
ROOT/requests.log                -- one JSON line per request: method, path, range, auth.
"""
import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = sys.argv[1]
MAX_LIFE = float(sys.argv[sys.argv.index("--max-life") + 1]) if "--max-life" in sys.argv else 120.0
LOCK = threading.Lock()
COUNTERS = {}
CHUNK = 64 * 1024


def config():
    with open(os.path.join(ROOT, "hub.json")) as f:
        return json.load(f)


def count(key):
    with LOCK:
        COUNTERS[key] = COUNTERS.get(key, 0) + 1
        return COUNTERS[key]


def is_lfs(path, size):
    return path.endswith(".safetensors") or path.endswith(".bin") or size > (1 << 20)


def file_meta(content, path):
    if is_lfs(path, len(content)):
        return True, hashlib.sha256(content).hexdigest()
    return False, hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varint(b, pos):
    v, shift = 0, 0
    while True:
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, pos
        shift += 7


def b32(data):
    import base64
    return "b" + base64.b32encode(data).decode().lower().rstrip("=")


def cid_bytes(text):
    import base64
    s = text[1:].upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def dag_pb_links(block):
    """CIDs (binary) linked from a dag-pb block."""
    links, pos = [], 0
    while pos < len(block):
        tag, pos = read_varint(block, pos)
        length, pos = read_varint(block, pos)
        body = block[pos:pos + length]
        pos += length
        if tag >> 3 == 2:
            p = 0
            while p < len(body):
                t, p = read_varint(body, p)
                if t & 7 == 0:
                    _, p = read_varint(body, p)
                    continue
                n, p = read_varint(body, p)
                if t >> 3 == 1:
                    links.append(body[p:p + n])
                p += n
    return links


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log_request_line(self):
        entry = {"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                 "auth": self.headers.get("Authorization")}
        with LOCK, open(os.path.join(ROOT, "requests.log"), "a") as f:
            f.write(json.dumps(entry) + "\n")

    def send(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def hub_error(self, status, code, message, head):
        self.send(status, json.dumps({"error": message}).encode(),
                  {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}, head)

    def do_HEAD(self):
        self.handle_any(head=True)

    def do_GET(self):
        self.handle_any(head=False)

    def handle_any(self, head):
        self.log_request_line()
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qs(url.query)
        try:
            if path.startswith("/ipfs/"):
                return self.gateway(path[len("/ipfs/"):], query, head)
            if path.startswith("/cdn/"):
                return self.cdn(path[len("/cdn/"):], head)
            if path.startswith("/api/models/"):
                return self.api(path[len("/api/models/"):], head)
            if "/resolve/" in path:
                return self.resolve(path, head)
            self.send(404, b"not found", head=head)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # ---- Hub ----
    def repo_access(self, repo, head):
        cfg = config()
        info = cfg["repos"].get(repo)
        if info is None:
            self.hub_error(401, "RepoNotFound", "Repository Not Found for url: " + self.path, head)
            return None, None
        if info.get("gated"):
            auth = self.headers.get("Authorization")
            if auth is None:
                self.hub_error(401, "GatedRepo", "Access to model %s is restricted. You must be authenticated." % repo,
                               head)
                return None, None
            if auth != "Bearer " + cfg.get("token", ""):
                self.hub_error(403, "GatedRepo", "Access to model %s is restricted and you are not in the authorized "
                               "list." % repo, head)
                return None, None
        return cfg, info

    def commit_of(self, info, revision):
        if revision in info["refs"]:
            return info["refs"][revision]
        if revision in info["refs"].values():
            return revision
        return None

    def api(self, rest, head):
        repo, _, revision = rest.partition("/revision/")
        cfg, info = self.repo_access(repo, head)
        if info is None:
            return
        commit = self.commit_of(info, revision)
        if commit is None:
            return self.hub_error(404, "RevisionNotFound", "Invalid rev id: " + revision, head)
        base = os.path.join(ROOT, "repos", repo, commit)
        files = []
        for d, _, names in os.walk(base):
            for n in names:
                files.append(os.path.relpath(os.path.join(d, n), base))
        body = json.dumps({"id": repo, "sha": commit, "siblings": [{"rfilename": f} for f in sorted(files)]})
        self.send(200, body.encode(), {"Content-Type": "application/json"}, head)

    def resolve(self, path, head):
        before, _, after = path.partition("/resolve/")
        repo = before.lstrip("/")
        cfg, info = self.repo_access(repo, head)
        if info is None:
            return
        if info.get("renamed_to"):
            return self.send(307, b"", {"Location": "/%s/resolve/%s" % (info["renamed_to"], after)}, head)
        revision, _, file = after.partition("/")
        commit = self.commit_of(info, revision)
        if commit is None:
            return self.hub_error(404, "RevisionNotFound", "Invalid rev id: " + revision, head)
        fault = cfg.get("faults", {}).get(file, {})
        if head and count("head:" + file) <= fault.get("head_fail", 0):
            return self.send(500, b"", head=True)
        full = os.path.join(ROOT, "repos", repo, commit, file)
        if not os.path.isfile(full):
            return self.hub_error(404, "EntryNotFound", "%s does not exist at %s" % (file, revision), head)
        with open(full, "rb") as f:
            content = f.read()
        lfs, etag = file_meta(content, file)
        headers = {"X-Repo-Commit": fault.get("commit_header", commit), "Accept-Ranges": "bytes"}
        if lfs:
            pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (etag.encode(),
                                                                                              len(content))
            headers.update({"ETag": '"%s"' % hashlib.sha1(pointer).hexdigest(), "X-Linked-Etag": '"%s"' % etag,
                            "X-Linked-Size": str(len(content)),
                            "Location": "http://%s:%d/cdn/%s/%s/%s" % (cfg.get("cdn_host", "127.0.0.1"),
                                                                      self.server.server_port, repo, commit, file)})
            return self.send(302, b"", headers, head)
        headers["ETag"] = '"%s"' % fault.get("etag_header", etag)
        self.serve_content(content, headers, head, {})

    def cdn(self, rest, head):
        cfg = config()
        parts = rest.split("/")
        repo, commit, file = "/".join(parts[:2]), parts[2], "/".join(parts[3:])
        with open(os.path.join(ROOT, "repos", repo, commit, file), "rb") as f:
            content = f.read()
        self.serve_content(content, {"ETag": '"%s"' % hashlib.sha256(content).hexdigest()}, head,
                           cfg.get("faults", {}).get(file, {}), file)

    def serve_content(self, content, headers, head, fault, file=""):
        if not head and count("get:" + file) <= fault.get("fail", 0):
            return self.send(500, b"internal error", head=head)
        if fault.get("corrupt"):
            content = bytes([content[0] ^ 0xFF]) + content[1:]
        start = 0
        status = 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(content):
                return self.send(416, b"", {"Content-Range": "bytes */%d" % len(content)}, head)
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(content) - 1, len(content))
        body = content[start:]
        cut = None
        if not head and status == 200 and "cut_after" in fault and count("cut:" + file) <= fault.get("cut_times", 1):
            cut = fault["cut_after"]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        sent = 0
        while sent < len(body):
            n = CHUNK if cut is None else min(CHUNK, cut - sent)
            if n <= 0:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body[sent:sent + n])
            sent += n
            if fault.get("slow"):
                self.wfile.flush()
                time.sleep(fault["slow"])

    # ---- trustless gateway ----
    def gateway(self, cid, query, head):
        fmt = (query.get("format") or [""])[0]
        accept = self.headers.get("Accept", "")
        blocks = os.path.join(ROOT, "blocks")

        def block(c):
            with open(os.path.join(blocks, c), "rb") as f:
                return f.read()

        if not os.path.isfile(os.path.join(blocks, cid)):
            return self.send(404, b"block not found", head=head)
        if fmt == "raw" or "vnd.ipld.raw" in accept:
            return self.send(200, block(cid), {"Content-Type": "application/vnd.ipld.raw"}, head)
        if fmt == "car" or "vnd.ipld.car" in accept:
            scope = (query.get("dag-scope") or ["all"])[0]
            root = cid_bytes(cid)
            header = b"\xa2\x65roots\x81\xd8\x2a\x58" + bytes([len(root) + 1]) + b"\x00" + root + b"\x67version\x01"
            out = [varint(len(header)), header]
            seen, todo = set(), [cid]
            while todo:
                c = todo.pop(0)
                if c in seen:
                    continue
                seen.add(c)
                data = block(c)
                cb = cid_bytes(c)
                out += [varint(len(cb) + len(data)), cb, data]
                if scope == "all" and cb[1] == 0x70:
                    todo += [b32(l) for l in dag_pb_links(data)]
            return self.send(200, b"".join(out), {"Content-Type": "application/vnd.ipld.car"}, head)
        self.send(406, b"only trustless responses (format=raw or format=car)", head=head)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_port, flush=True)

    def stop_when_parent_goes():
        try:
            sys.stdin.read()
        finally:
            server.shutdown()

    threading.Thread(target=stop_when_parent_goes, daemon=True).start()
    timer = threading.Timer(MAX_LIFE, server.shutdown)
    timer.daemon = True
    timer.start()
    server.serve_forever(poll_interval=0.05)
    os._exit(0)


if __name__ == "__main__":
    main()
