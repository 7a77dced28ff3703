"""`eider` itself: starting with no configuration, configuration layering, clean stops."""

import json
import signal
import subprocess
import time
import urllib.request

from conftest import BINARY, Eider


def test_no_arguments_serves_from_an_empty_directory(tmp_path):
    # The documented zero-configuration start: embedded store in ./data, default ports.
    proc = subprocess.Popen(
        [str(BINARY)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.time() + 30
        body = None
        while time.time() < deadline and body is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8080/health", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.1)
        assert body is not None and body.get("success") is True
        assert (tmp_path / "data").is_dir()
        assert any((tmp_path / "data").iterdir()), "store files are created in ./data"
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=15)[0].decode("utf-8", "replace")
    assert proc.returncode == 0, out
    assert "API listening on http://127.0.0.1:8080" in out


def test_sigterm_stops_quickly_with_status_zero(tmp_path):
    server = Eider(tmp_path / "d").wait_ready()
    started = time.time()
    assert server.stop(signal.SIGTERM) == 0
    assert time.time() - started < 10


def test_sigint_stops_with_status_zero(tmp_path):
    server = Eider(tmp_path / "d").wait_ready()
    assert server.stop(signal.SIGINT) == 0


def test_config_file_and_environment_override_defaults(tmp_path):
    cfg = tmp_path / "eider.toml"
    cfg.write_text('[api]\nport = 1\n[log]\nlevel = "info"\n')
    # The file sets a port the environment overrides back to an OS-assigned one.
    server = Eider(tmp_path / "d", ["--config", str(cfg)], env={"EIDER_API__PORT": "0"})
    # --set from the harness wins over both: the API still comes up.
    server.wait_ready()
    assert server.api("GET", "/health")[0] == 200
    assert server.stop() == 0


def test_invalid_config_file_is_reported(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[api\n")
    res = subprocess.run([str(BINARY), "--config", str(cfg)], capture_output=True, timeout=30)
    assert res.returncode == 2
    assert b"invalid TOML" in res.stderr


def test_data_survives_restart(tmp_path):
    data = tmp_path / "d"
    first = Eider(data).wait_ready()
    uid = first.create_user("restart.user")
    assert first.stop() == 0
    second = Eider(data).wait_ready()
    status, body = second.api("GET", f"/users/{uid}")
    assert status == 200 and body["username"] == "restart.user"
    assert second.stop() == 0
