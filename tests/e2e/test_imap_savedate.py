"""SAVEDATE (RFC 8514): FETCH SAVEDATE is when the message was saved into the
mailbox (not its INTERNALDATE); SEARCH SAVEDBEFORE/SAVEDON/SAVEDSINCE and
SAVEDATESUPPORTED."""

import datetime as dt
import re
import time

from imap_ext_util import lit, server, session, status_of  # noqa: F401 (fixture)
from imaputil import SIMPLE


def imap_day(d):
    return d.strftime("%d-%b-%Y")


def test_savedate(server):
    r = session(server)
    assert b"SAVEDATE" in r.cmd("CAPABILITY")[0]
    # An old INTERNALDATE; the save date is now.
    lines = r.cmd(b'APPEND INBOX "01-Jan-2001 10:00:00 +0000" ' + lit(SIMPLE))
    assert status_of(lines) == b"OK"
    r.cmd("SELECT INBOX")
    before_fetch = time.time()
    line = r.cmd("FETCH 1 (INTERNALDATE SAVEDATE)")[0]
    assert b'INTERNALDATE "01-Jan-2001 10:00:00 +0000"' in line, line
    saved = re.search(rb'SAVEDATE "([^"]+)"', line).group(1).decode()
    stamp = dt.datetime.strptime(saved, "%d-%b-%Y %H:%M:%S %z").timestamp()
    assert abs(stamp - before_fetch) < 120, (saved, line)
    today = dt.datetime.fromtimestamp(stamp, dt.timezone.utc).date()
    tomorrow = today + dt.timedelta(days=1)
    assert r.cmd(f"SEARCH SAVEDON {imap_day(today)}")[0] == b"* SEARCH 1"
    assert r.cmd(f"SEARCH SAVEDSINCE {imap_day(today)}")[0] == b"* SEARCH 1"
    assert r.cmd(f"SEARCH SAVEDBEFORE {imap_day(today)}")[0] == b"* SEARCH"
    assert r.cmd(f"SEARCH SAVEDBEFORE {imap_day(tomorrow)}")[0] == b"* SEARCH 1"
    assert r.cmd(f"SEARCH SAVEDSINCE {imap_day(tomorrow)}")[0] == b"* SEARCH"
    # INTERNALDATE keys still see 2001.
    assert r.cmd("SEARCH BEFORE 1-Jan-2002")[0] == b"* SEARCH 1"
    assert r.cmd("SEARCH SAVEDBEFORE 1-Jan-2002")[0] == b"* SEARCH"
    assert r.cmd("SEARCH SAVEDATESUPPORTED")[0] == b"* SEARCH 1"
    assert status_of(r.cmd("SEARCH SAVEDON 99-Foo-2020")) == b"BAD"
