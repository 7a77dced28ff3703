"""Shared pieces of the IMAP extension tests (MULTIAPPEND, CATENATE, METADATA,
OBJECTID, SAVEDATE): a server on either backend and literal helpers."""

import uuid

import pytest

from imaputil import raw_login


@pytest.fixture(params=["sqlite", "mongodb"])
def server(request, start_eider):
    """A server on the embedded store, and one on MongoDB + Redis."""
    if request.param == "sqlite":
        return start_eider()
    from test_scaleout_two_instances import service, with_database

    mongo = with_database(service("EIDER_TEST_MONGO_URL"), "eider_ext_" + uuid.uuid4().hex)
    redis = service("EIDER_TEST_REDIS_URL")
    return start_eider(
        extra_args=[
            "--set", 'storage.backend="mongodb"',
            "--set", f'dbs.mongo="{mongo}"',
            "--set", f'dbs.redis="{redis}"',
        ]
    )


def lit(data):
    """A non-synchronizing literal (LITERAL+) carrying `data` (bytes or str)."""
    if isinstance(data, str):
        data = data.encode()
    return b"{%d+}\r\n" % len(data) + data


def session(server, user="alice"):
    return raw_login(server, user)


def status_of(lines):
    return lines[-1].split(b" ", 2)[1]
