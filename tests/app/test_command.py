"""`fcn4 app` as a user runs it: the URL with its token on stderr, 127.0.0.1 only, Ctrl-C stops it cleanly."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


@pytest.mark.slow
def test_fcn4_app_serves_tags_a_dropped_file_in_a_worker_and_stops_on_ctrl_c(library):
    psutil = pytest.importorskip("psutil")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-m", "fcn4", "app", "--store", str(library[0]), "--port", "0",
                                "--max-upload-mb", "4", "--workers", "1"],
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = ""
        deadline = time.monotonic() + 120
        while "token=" not in seen and time.monotonic() < deadline and process.poll() is None:
            seen += process.stderr.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)\?token=([\w-]+)", seen)
        assert url, seen
        base, token = url.groups()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(base + "api/store", timeout=30)
        assert refused.value.code == 403
        asked = urllib.request.Request(base + "api/store", headers={"Authorization": f"Bearer {token}"})
        found = json.load(opener.open(asked, timeout=30))
        assert found["tracks"] == 6
        listening = [c.laddr for c in psutil.Process(process.pid).net_connections("inet") if c.status == "LISTEN"]
        assert listening and all(address[0] == "127.0.0.1" for address in listening)   # this machine only
        # a dropped file, decoded in the pool's worker process
        data = open(library[1]["query.wav"], "rb").read()
        upload = urllib.request.Request(base + "api/tag?name=query.wav", data=data, method="POST",
                                        headers={"Authorization": f"Bearer {token}"})
        tagged = json.load(opener.open(upload, timeout=120))
        assert {n["name"] for n in tagged["neighbours"][:2]} == {"one.wav", "copy of one.wav"}
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
        said = process.stderr.read()
        assert code == 0 and "stopped" in said, said
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
