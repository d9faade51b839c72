"""The CLI hook: serve_forever runs until SIGTERM or Ctrl-C and then stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

from servicemap_sync.emulator import load_scenario

SCRIPT = """
from servicemap_sync.emulator import load_scenario, serve_forever
serve_forever(load_scenario(), port=0, on_ready=lambda emu: print(emu.url, emu.ca_path, flush=True))
print("stopped", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_forever_serves_until_signalled(sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url, ca_path = proc.stdout.readline().split()
        tenant = load_scenario().tenant_id
        response = requests.get(f"{url}/{tenant}/v2.0/.well-known/openid-configuration", verify=ca_path, timeout=10)
        assert response.json()["token_endpoint"].startswith(url)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert out.strip() == "stopped"
