"""Verified download (sha256 while streaming, temp file + rename) against a plain streaming
download of the same file from a loopback server: speed ratio and peak memory growth."""
from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

_CLIENT = """
import resource, sys, time
import requests
from fcn4.hub.download import download_file
mode, url, out, sha = sys.argv[1:5]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if mode == "plain":
    with requests.get(url, stream=True, timeout=(10, 60)) as r, open(out, "wb") as f:
        r.raise_for_status()
        for chunk in r.iter_content(1 << 20):
            f.write(chunk)
else:
    download_file(url, out, sha, progress=False)
seconds = time.perf_counter() - start
print(seconds, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


# A sendfile server, as real file servers are: it leaves the client the CPU. ``rate`` (bytes/s,
# 0 = unlimited) stands in for a real network link.
_SERVER = """
import os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
port, path, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.flush()
        piece, start = 1 << 22, time.perf_counter()
        with open(path, "rb") as f:
            for offset in range(0, size, piece):
                self.connection.sendfile(f, offset, min(piece, size - offset))
                if rate:
                    time.sleep(max(0.0, start + (offset + piece) / rate - time.perf_counter()))
HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_download(size_mb: int = 200, repeats: int = 3, rate_mb: float = 0.0) -> None:
    # Downloads land in RAM (/dev/shm) where there is one, so the disk's write-back does not
    # decide the figures; the served file is read from disk (page cache) by sendfile.
    ram = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir=ram) as out_dir:
        served = os.path.join(tmp, "served")
        os.mkdir(served)
        digest = hashlib.sha256()
        with open(os.path.join(served, "weights.ckpt"), "wb") as handle:
            for _ in range(size_mb):
                block = os.urandom(1 << 20)
                handle.write(block)
                digest.update(block)
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port), os.path.join(served, "weights.ckpt"),
                                   str(rate_mb * 2**20)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            url = f"http://127.0.0.1:{port}/weights.ckpt"
            results = {"plain": [], "verified": []}
            for i in range(repeats):
                # Alternate which goes first: on this VM the run after another 200 MB write is slower.
                for mode in sorted(results, reverse=bool(i % 2)):
                    os.sync()
                    out = os.path.join(out_dir, f"{mode}.ckpt")
                    done = subprocess.run([sys.executable, "-c", _CLIENT, mode, url, out, digest.hexdigest()],
                                          capture_output=True, text=True, timeout=600, check=True)
                    seconds, grown = map(float, done.stdout.split())
                    results[mode].append((seconds, grown))
                    os.remove(out)
        finally:
            server.terminate()
            server.wait()
    speed = {mode: size_mb / statistics.median(s for s, _ in runs) for mode, runs in results.items()}
    memory = {mode: max(g for _, g in runs) for mode, runs in results.items()}
    link = (f"a {rate_mb:g} MB/s link" if rate_mb else "unthrottled loopback") + (" to RAM" if ram else "")
    print(f"download {size_mb} MB, {link} (median of {repeats}): plain {speed['plain']:.0f} MB/s, "
          f"verified {speed['verified']:.0f} MB/s = {speed['verified'] / speed['plain']:.0%} of plain "
          f"(target >= 80%); peak memory growth plain {memory['plain']:.1f} MB, verified "
          f"{memory['verified']:.1f} MB (target < 50 MB)")
