"""Scale-out: losing Redis delays notifications but never loses mail. Two
instances on one MongoDB and a Redis of this test's own, which is stopped and
started again while mail flows."""

import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from imaputil import PASSWORD, SIMPLE, Raw, make_message, tagged
from lmtp_support import deliver
from test_scaleout_two_instances import idle_on, service, wait_line, with_database


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, port, workdir):
        self.port = port
        self.workdir = workdir
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("redis-server is not installed: scripts/test installs it")
        pytest.skip("redis-server is not installed")
    r = Redis(free_port(), tmp_path)
    r.start()
    yield r
    r.stop()


def test_mail_flows_while_redis_is_down_and_idle_resumes(start_eider, private_redis):
    mongo = with_database(service("EIDER_TEST_MONGO_URL"), "eider_e2e_" + uuid.uuid4().hex)
    args = [
        "--set", 'storage.backend="mongodb"',
        "--set", f'dbs.mongo="{mongo}"',
        "--set", f'dbs.redis="redis://127.0.0.1:{private_redis.port}/0"',
    ]
    a = start_eider(extra_args=args)
    b = start_eider(extra_args=args)
    a.create_user("frank", PASSWORD, address="frank@example.com")
    watcher = idle_on(a, "frank")

    private_redis.stop()
    # Deliveries and reads do not need Redis.
    assert deliver(b, ["frank@example.com"], SIMPLE)[1][0][0] == 250
    assert deliver(b, ["frank@example.com"], make_message(2))[1][0][0] == 250
    reader = Raw(*a.hostport("IMAP"))
    assert tagged(reader.cmd(f"LOGIN frank {PASSWORD}"))[0] == "OK"
    lines = reader.cmd("SELECT INBOX")
    assert b"* 2 EXISTS" in lines, lines
    reader.cmd("LOGOUT")

    # When Redis returns, A's subscriber reconnects and wakes its sessions, which
    # catch up from the journal: the IDLE session learns of both messages.
    private_redis.start()
    line, _, seen = wait_line(watcher, lambda l: l.endswith(b" EXISTS"), timeout=20)
    assert line == b"* 2 EXISTS", seen
    watcher.send("DONE\r\n")
    assert tagged(watcher.until_tagged("idle1"))[0] == "OK"

    # And notifications are immediate again.
    watcher.send("idle2 IDLE\r\n")
    assert watcher.readline().startswith(b"+ ")
    deadline = time.monotonic() + 15
    line = None
    while line is None and time.monotonic() < deadline:
        assert deliver(b, ["frank@example.com"], make_message(3))[1][0][0] == 250
        line, _, seen = wait_line(watcher, lambda l: l.endswith(b" EXISTS"), timeout=1.0)
    assert line is not None and line.startswith(b"* "), seen
    watcher.send("DONE\r\n")
    watcher.until_tagged("idle2")
