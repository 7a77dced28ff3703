"""Helpers for the operations tests: run `eider` admin commands against a store."""

import json
import subprocess

from conftest import BINARY


def cli(data_dir, *args, input=None, extra=(), timeout=120):
    """Run `eider <args>` on the store in `data_dir`; returns the CompletedProcess."""
    cmd = [str(BINARY), "--set", f"storage.path={json.dumps(str(data_dir))}", *extra, *args]
    return subprocess.run(
        cmd,
        input=input.encode() if isinstance(input, str) else input,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )


def cli_json(data_dir, *args, **kw):
    res = cli(data_dir, "--json", *args, **kw)
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    return json.loads(res.stdout)
