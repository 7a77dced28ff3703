"""Date keys of SEARCH (RFC 3501 6.4.4): SENTBEFORE/SENTON/SENTSINCE compare the
Date: header's day in its own zone, time and zone disregarded; BEFORE/ON/SINCE
compare the internal date's day, which Eider keeps in UTC (an APPEND date-time
with a zone is converted)."""

from imaputil import login, ok


def nums(data):
    return [int(x) for x in data[0].split()] if data and data[0] else []


def dated(n, date):
    head = f"Date: {date}\r\n" if date else ""
    return (
        f"From: sender@example.com\r\nTo: alice@example.com\r\nSubject: Dated {n}\r\n"
        f"Message-ID: <dated{n}@example.com>\r\n{head}\r\nBody {n}.\r\n"
    ).encode()


def mailbox(eider):
    m = login(eider)
    # (Date: header, internal date): each crosses midnight when taken to UTC.
    for n, (date, internal) in enumerate(
        [
            ("Mon, 1 Jan 2024 23:30:00 -0500", "01-Jan-2024 23:30:00 -0500"),  # 2 Jan UTC
            ("Tue, 2 Jan 2024 00:30:00 +0900", "02-Jan-2024 00:30:00 +0900"),  # 1 Jan UTC
            ("Tue, 2 Jan 2024 12:00:00 +0000", "02-Jan-2024 12:00:00 +0000"),
            (None, "03-Jan-2024 23:30:00 -0500"),  # no Date: header; 4 Jan UTC
        ],
        start=1,
    ):
        ok(m.append("INBOX", None, f'"{internal}"', dated(n, date)))
    m.select("INBOX")
    return m


def test_sent_keys_use_the_header_day(eider):
    m = mailbox(eider)
    assert nums(ok(m.search(None, "SENTON", "1-Jan-2024"))) == [1]
    assert nums(ok(m.search(None, "SENTON", "2-Jan-2024"))) == [2, 3]
    assert nums(ok(m.search(None, "SENTBEFORE", "2-Jan-2024"))) == [1]
    assert nums(ok(m.search(None, "SENTSINCE", "2-Jan-2024"))) == [2, 3, 4]
    assert nums(ok(m.search(None, "SENTSINCE", "3-Jan-2024"))) == [4]
    # Without a Date: header the internal date's (UTC) day stands in.
    assert nums(ok(m.search(None, "SENTON", "4-Jan-2024"))) == [4]
    assert nums(ok(m.search(None, "NOT", "SENTON", "2-Jan-2024"))) == [1, 4]
    assert nums(ok(m.search(None, "OR", "SENTON", "1-Jan-2024", "SUBJECT", '"Dated 3"'))) == [1, 3]
    assert nums(ok(m.search(None, "TEXT", "Body", "SENTBEFORE", "3-Jan-2024"))) == [1, 2, 3]
    # The day follows the message into other mailboxes.
    ok(m.create("Kept"))
    ok(m.copy("1:2", "Kept"))
    m.select("Kept")
    assert nums(ok(m.search(None, "SENTON", "1-Jan-2024"))) == [1]
    assert nums(ok(m.search(None, "SENTON", "2-Jan-2024"))) == [2]
    m.logout()


def test_internal_date_keys_use_the_utc_day(eider):
    m = mailbox(eider)
    data = ok(m.fetch("1:2", "INTERNALDATE"))
    assert b'INTERNALDATE "02-Jan-2024 04:30:00 +0000"' in data[0]
    assert b'INTERNALDATE "01-Jan-2024 15:30:00 +0000"' in data[1]
    assert nums(ok(m.search(None, "ON", "1-Jan-2024"))) == [2]
    assert nums(ok(m.search(None, "ON", "2-Jan-2024"))) == [1, 3]
    assert nums(ok(m.search(None, "BEFORE", "2-Jan-2024"))) == [2]
    assert nums(ok(m.search(None, "SINCE", "4-Jan-2024"))) == [4]
    assert nums(ok(m.search(None, "SINCE", "2-Jan-2024", "BEFORE", "4-Jan-2024"))) == [1, 3]
    m.logout()
