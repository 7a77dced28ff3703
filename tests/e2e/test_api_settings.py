"""Runtime settings: GET /settings, GET/POST /settings/{key} through the real API,
and that a changed setting changes behaviour without a restart: the default quota
of users without their own (shown and enforced by LMTP), the per-message recipient
limit of submit; on two instances sharing MongoDB and Redis, a change made on one
applies on the other."""

import pytest

from lmtp_support import SmtpSink, deliver, make_message, relay_args, user, wait_for
from test_api_access import SECRET, guarded, login, make_user  # noqa: F401

MIB = 1024 * 1024


def assert_error(resp, status, code):
    got, body = resp
    assert (got, body.get("code")) == (status, code), body
    return body


def settings(server):
    status, body = server.api("GET", "/settings")
    assert status == 200 and body["success"] is True, body
    return {s["key"]: s for s in body["settings"]}


def quota_of(server, uid):
    status, body = server.api("GET", f"/users/{uid}")
    assert status == 200, body
    return body["limits"]["quota"]["allowed"]


def test_listing_defaults_and_set_values(start_eider):
    server = start_eider(extra_args=["--set", "maxStorage=5", "--set", "auth.maxAsps=7"])
    listed = settings(server)
    storage = listed["const:max:storage"]
    assert storage == {
        "key": "const:max:storage", "value": 5 * MIB, "default": 5 * MIB, "custom": False,
        "name": "Disk quota", "description": "Maximum allowed storage size in bytes", "type": "size",
    }
    assert listed["const:asp:limit"]["value"] == 7
    assert listed["const:max:rcpt_to"]["value"] == 400
    assert listed["const:sender:defer_times"]["type"] == "string"
    assert list(listed) == sorted(listed)

    # Numeric strings are converted, as WildDuck's schema does.
    status, body = server.api("POST", "/settings/const:max:storage", {"value": str(3 * MIB)})
    assert (status, body) == (200, {"success": True, "key": "const:max:storage"})
    storage = settings(server)["const:max:storage"]
    assert (storage["value"], storage["default"], storage["custom"]) == (3 * MIB, 5 * MIB, True)
    assert server.api("GET", "/settings/const:max:storage")[1] == {
        "success": True, "key": "const:max:storage", "value": 3 * MIB}
    assert server.api("GET", "/settings/const:max:filters")[1]["value"] == 400

    status, body = server.api("GET", "/settings?filter=MAX:ST")
    assert [s["key"] for s in body["settings"]] == ["const:max:storage"]
    assert body["filter"] == "MAX:ST"


def test_errors(eider):
    assert eider.api("GET", "/settings/const:no:such") == (
        200, {"success": False, "key": "const:no:such", "error": "Key was not found"})
    body = assert_error(eider.api("POST", "/settings/const:no:such", {"value": 1}), 400, "InputValidationError")
    assert "const:max:storage" in body["error"]
    for bad in [-1, 1.5, "lots", None, {"a": 1}]:
        assert_error(eider.api("POST", "/settings/const:max:recipients", {"value": bad}), 400, "InputValidationError")
    assert_error(eider.api("POST", "/settings/const:max:recipients", {}), 400, "InputValidationError")
    assert_error(eider.api("POST", "/settings/const:sender:defer_times", {"value": "soon"}),
                 400, "InputValidationError")
    assert eider.api("POST", "/settings/const:sender:defer_times", {"value": "1m, 5m, 1h"})[0] == 200


def test_root_only(guarded):
    make_user(guarded, "plain")
    token = login(guarded, "plain")
    assert_error(guarded.api("GET", "/settings", token=token), 403, "MissingPrivileges")
    assert_error(guarded.api("GET", "/settings/const:max:storage", token=token), 403, "MissingPrivileges")
    assert_error(guarded.api("POST", "/settings/const:max:storage", {"value": 1}, token=token),
                 403, "MissingPrivileges")
    assert guarded.api("GET", "/settings", token=SECRET)[0] == 200


def test_default_quota_changes_without_restart(eider):
    before = user(eider, "before")
    own = user(eider, "own", quota=50 * MIB)
    assert quota_of(eider, before) == 1024 * MIB
    assert eider.api("POST", "/settings/const:max:storage", {"value": 2000})[0] == 200
    after = user(eider, "after")
    # Users without a quota of their own follow the setting; the others keep theirs.
    assert quota_of(eider, before) == 2000
    assert quota_of(eider, after) == 2000
    assert quota_of(eider, own) == 50 * MIB
    # Delivery enforces it: a message larger than the setting does not fit.
    big = make_message(subject="big", body="x" * 3000 + "\r\n")
    rcpts, data = deliver(eider, ["after@example.com", "own@example.com"], big)
    assert [c for c, _ in rcpts] == [250, 250]
    assert [c for c, _ in data] == [452, 250], data
    assert eider.api("POST", "/settings/const:max:storage", {"value": 100 * MIB})[0] == 200
    rcpts, data = deliver(eider, ["after@example.com"], big)
    assert [c for c, _ in data] == [250], data


@pytest.fixture
def relay():
    sink = SmtpSink()
    yield sink
    sink.close()


def test_recipient_limit_of_submit_changes_without_restart(start_eider, relay):
    server = start_eider(extra_args=relay_args(relay))
    uid = user(server, "alice")
    to = [{"address": f"r{i}@example.org"} for i in range(3)]

    def submit():
        return server.api("POST", f"/users/{uid}/submit", {"to": to, "subject": "hi", "text": "x"})

    assert submit()[0] == 200
    assert server.api("POST", "/settings/const:max:rcpt_to", {"value": 2})[0] == 200
    body = assert_error(submit(), 403, "TooMany")
    assert body["error"] == "Your email has too many recipients"
    assert len(relay.received) == 1
    # The daily limit follows its setting too.
    assert server.api("POST", "/settings/const:max:rcpt_to", {"value": 10})[0] == 200
    assert server.api("POST", "/settings/const:max:recipients", {"value": 4})[0] == 200
    assert_error(submit(), 403, "RateLimitedError")
    _, info = server.api("GET", f"/users/{uid}")
    assert info["limits"]["recipients"] == {"allowed": 4, "used": 3, "ttl": info["limits"]["recipients"]["ttl"]}


def test_a_change_on_one_instance_applies_on_the_other(start_eider):
    from test_scaleout_two_instances import service, with_database
    import uuid

    mongo = with_database(service("EIDER_TEST_MONGO_URL"), "eider_e2e_" + uuid.uuid4().hex)
    redis = service("EIDER_TEST_REDIS_URL")
    args = ["--set", 'storage.backend="mongodb"', "--set", f'dbs.mongo="{mongo}"', "--set", f'dbs.redis="{redis}"']
    a = start_eider(extra_args=args)
    b = start_eider(extra_args=args)
    uid = user(a, "shared")
    assert quota_of(b, uid) == 1024 * MIB
    assert a.api("POST", "/settings/const:max:storage", {"value": 4096})[0] == 200
    assert quota_of(a, uid) == 4096
    # B's cached copy is re-checked against the version counter in Redis within a second.
    assert wait_for(lambda: quota_of(b, uid) == 4096, timeout=10)
    assert b.api("GET", "/settings/const:max:storage")[1]["value"] == 4096
    user(b, "second")
    assert a.api("POST", "/settings/const:max:storage", {"value": 8192})[0] == 200
    assert wait_for(lambda: quota_of(b, uid) == 8192, timeout=10)
