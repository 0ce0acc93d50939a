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
def test_fcn4_app_serves_until_ctrl_c(library):
    psutil = pytest.importorskip("psutil")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-m", "fcn4", "app", "--store", str(library[0]), "--port", "0"],
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
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        assert "stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
