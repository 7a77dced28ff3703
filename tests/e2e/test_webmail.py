"""The webmail at /webmail/, driven in Debian's headless Chromium through selenium
against the real binary: sign-in (password, TOTP, a security key through Chromium's
virtual authenticator), reading an LMTP-delivered message and downloading its
attachment byte-identical, live updates over SSE, Report spam, compose and send
through an SMTP sink (aiosmtpd) standing in for the relay, and an application
password with its Apple profile. One browser and one server serve the whole
module; each test has its own user. Screenshots go to $EIDER_ARTIFACTS (default: a
temp dir) as webmail-*.png."""

import base64
import os
import shutil
import socket
import tempfile
import time
from email import message_from_bytes
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from auth_util import totp
from conftest import Eider
from lmtp_support import deliver, mailbox_ids, user

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service as ChromeService  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = os.environ.get("EIDER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("EIDER_CHROMEDRIVER", "/usr/bin/chromedriver")
PASSWORD = "secret-pass"
WAIT = 15
ARTIFACTS = Path(os.environ.get("EIDER_ARTIFACTS") or Path(tempfile.gettempdir()) / "eider-artifacts")
# Set to a directory to refresh the screenshots committed in docs/.
DOCS_SHOTS = os.environ.get("EIDER_DOCS_SCREENSHOTS")

ATTACHMENT = bytes(range(256)) * 40 + b"\x00end of the binary attachment\xff"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """An aiosmtpd server standing in for the relay; records (from, rcpts, bytes)."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.received = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self):
        self.controller.stop()


@pytest.fixture(scope="module")
def sink():
    pytest.importorskip("aiosmtpd")
    s = Sink()
    yield s
    s.close()


ROOT_SECRET = "webmail-tests-root-secret"


class RootEider(Eider):
    """A server with access control on: the tests' own API calls act as root, the
    webmail with the user's token (and the change stream with `accessToken`)."""

    def api(self, method, path, body=None, token=None, raw=False):
        return super().api(method, path, body, token or ROOT_SECRET, raw)


@pytest.fixture(scope="module")
def server(tmp_path_factory, sink):
    srv = RootEider(
        tmp_path_factory.mktemp("webmail") / "data",
        ["--set", "relay.enabled=true", "--set", f"relay.port={sink.port}", "--set", 'emailDomain="example.com"'],
        env={"EIDER_API__ACCESSCONTROL__ENABLED": "true", "EIDER_API__ACCESSCONTROL__SECRET": ROOT_SECRET},
    ).wait_ready()
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed")
    profile = tempfile.mkdtemp(prefix="eider-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,900",
    ):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
    })
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=ChromeService(executable_path=CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def web(browser, server):
    """The browser on a fresh webmail page (no session), at http://localhost:PORT:
    a name rather than 127.0.0.1, as WebAuthn needs a domain for its RP ID."""
    port = server.hostport("API")[1]
    base = f"http://localhost:{port}/webmail/"
    browser.get(base)
    browser.execute_script("sessionStorage.clear()")
    browser.get(base)
    wait_for(browser, "#login-user")
    return browser


def explain(driver, what):
    """A failed wait names what it waited for, the page's console and a screenshot."""
    name = "failure-" + "".join(c if c.isalnum() else "-" for c in what)[:60]
    try:
        shot(driver, name)
    except Exception:
        pass
    logs = "\n".join(f"{e.get('level')}: {e.get('message')}" for e in browser_log(driver))
    return f"waited for {what}; screenshot {ARTIFACTS}/webmail-{name}.png; console:\n{logs}"


def browser_log(driver):
    try:
        return driver.get_log("browser")
    except Exception:
        return []


def wait_for(driver, css, visible=True, timeout=WAIT):
    cond = EC.visibility_of_element_located if visible else EC.presence_of_element_located
    try:
        return WebDriverWait(driver, timeout).until(cond((By.CSS_SELECTOR, css)))
    except TimeoutException:
        raise AssertionError(explain(driver, css)) from None


def wait_until(driver, fn, timeout=WAIT, message="a condition"):
    try:
        return WebDriverWait(driver, timeout).until(lambda d: fn(d))
    except TimeoutException:
        raise AssertionError(explain(driver, message if isinstance(message, str) else message())) from None


def shot(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"webmail-{name}.png"))
    if DOCS_SHOTS:
        Path(DOCS_SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(DOCS_SHOTS) / f"webmail-{name}.png"))


def row(driver, subject):
    return wait_for(driver, f'#messages .row[aria-label*="{subject}"]')


def sign_in(driver, username, password=PASSWORD):
    for field, value in (("login-user", username), ("login-pass", password)):
        el = wait_for(driver, f"#{field}")
        el.clear()
        el.send_keys(value)
    driver.find_element(By.ID, "login-submit").click()


def signed_in(driver):
    wait_for(driver, "#app-view")
    wait_for(driver, '#mailboxes li[data-path="INBOX"]', visible=False)


def messages(server, uid, path="INBOX"):
    """The API's list entries of a mailbox (newest first)."""
    boxes = mailbox_ids(server, uid)
    status, body = server.api("GET", f"/users/{uid}/mailboxes/{boxes[path]}/messages?limit=100")
    assert status == 200, body
    return body["results"]


def mail_with_attachment(subject, rcpt):
    msg = MIMEMultipart()
    msg["From"] = "Carol Sender <carol@example.org>"
    msg["To"] = rcpt
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@example.org>"
    msg.attach(MIMEText("<p>Hello <b>from Carol</b>.</p><p><img src=\"https://tracker.example/pixel.png\" alt=\"pixel\"></p>", "html"))
    part = MIMEApplication(ATTACHMENT, Name="data.bin")
    part["Content-Disposition"] = 'attachment; filename="data.bin"'
    msg.attach(part)
    return msg.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")


def plain(subject, rcpt, body="Hello there.\r\n", sender="Dan <dan@example.org>"):
    return (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}-{time.time_ns()}@example.org>\r\n\r\n{body}").encode()


# ------------------------------------------------------------------ tests


def test_webmail_is_served_with_a_strict_policy(server):
    import urllib.request

    with urllib.request.urlopen(server.api_url + "/webmail/") as r:
        csp = r.headers["Content-Security-Policy"]
        assert r.headers["Content-Type"].startswith("text/html")
        assert b'<script type="module" src="app.js">' in r.read()
    assert "script-src 'self'" in csp and "frame-ancestors 'self'" in csp and "connect-src 'self'" in csp
    with urllib.request.urlopen(server.api_url + "/webmail/app.js") as r:
        assert r.headers["Content-Type"].startswith("text/javascript")
    # The pages are public; the API behind them is not.
    status, body = Eider.api(server, "GET", "/users")
    assert status == 403 and body["code"] == "InvalidToken", body


def test_same_origin_webmail_passes_the_browser_guard(start_eider, browser):
    """With access control off (the loopback default) the guard refuses cross-site
    requests but lets the same-origin webmail sign in and read."""
    import urllib.request

    srv = start_eider()
    user(srv, "gwen")
    deliver(srv, ["gwen@example.com"], plain("Guarded", "gwen@example.com"))
    req = urllib.request.Request(srv.api_url + "/authenticate", data=b'{"username":"gwen","password":"secret-pass"}',
                                 headers={"Content-Type": "application/json", "Origin": "https://evil.example"})
    try:
        urllib.request.urlopen(req)
        raise AssertionError("cross-site request accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 403
    browser.get(f"http://localhost:{srv.hostport('API')[1]}/webmail/")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    sign_in(browser, "gwen")
    signed_in(browser)
    row(browser, "Guarded")
    browser.find_element(By.ID, "btn-logout").click()
    wait_for(browser, "#login-user")


def test_webmail_can_be_turned_off(start_eider):
    srv = start_eider(extra_args=["--set", "webmail.enabled=false"])
    status, body = srv.api("GET", "/webmail/")
    assert status == 404 and body["code"] == "ResourceNotFound"


def test_sign_in_read_download_and_sign_out(web, server, downloads):
    uid = user(server, "wanda")
    raw = mail_with_attachment("Quarterly numbers", "wanda@example.com")
    deliver(server, ["wanda@example.com"], raw)
    for i in range(3):
        deliver(server, ["wanda@example.com"], plain(f"Filler {i}", "wanda@example.com"))

    sign_in(web, "wanda", "wrong-password")
    wait_until(web, lambda d: d.find_element(By.ID, "login-error").text != "", message="no error shown")
    sign_in(web, "wanda")
    signed_in(web)
    inbox = web.find_element(By.CSS_SELECTOR, '#mailboxes li[data-path="INBOX"] .unread')
    assert inbox.text == "4"
    shot(web, "inbox")

    row(web, "Quarterly numbers").click()
    wait_until(web, lambda d: d.find_element(By.ID, "msg-subject").text == "Quarterly numbers")
    # The html part is shown in a sandboxed frame; its remote image stays blocked.
    frame = wait_for(web, "#msg-body iframe")
    assert "allow-scripts" not in frame.get_attribute("sandbox")
    assert wait_for(web, "#remote-banner").is_displayed()
    web.switch_to.frame(frame)
    wait_until(web, lambda d: "from Carol" in d.find_element(By.TAG_NAME, "body").text)
    web.switch_to.default_content()
    shot(web, "reading")
    # Opening marked it read, on the server too.
    wait_until(web, lambda d: d.find_element(By.CSS_SELECTOR, '#mailboxes li[data-path="INBOX"] .unread').text == "3")
    listed = messages(server, uid)
    assert [m["seen"] for m in listed if m["subject"] == "Quarterly numbers"] == [True]

    web.find_element(By.CSS_SELECTOR, "#msg-attachments .attachment").click()
    target = downloads / "data.bin"
    wait_until(web, lambda d: target.exists() and target.read_bytes() == ATTACHMENT, message="download")

    # Flag from the reading pane, then the keyboard: j moves, s flags.
    web.find_element(By.ID, "btn-flag").click()
    wait_until(web, lambda d: [m["flagged"] for m in messages(server, uid) if m["subject"] == "Quarterly numbers"] == [True])

    web.find_element(By.ID, "btn-logout").click()
    wait_for(web, "#login-user")
    token = web.execute_script("return sessionStorage.getItem('eider-webmail-session')")
    assert token is None


def test_live_update_and_report_spam(web, server):
    uid = user(server, "lenny")
    deliver(server, ["lenny@example.com"], plain("First one", "lenny@example.com"))
    sign_in(web, "lenny")
    signed_in(web)
    row(web, "First one")
    wait_until(web, lambda d: "on" in d.find_element(By.ID, "live-state").get_attribute("class"), message="SSE not live")
    # Delivered while the page is open: it appears without reload.
    deliver(server, ["lenny@example.com"], plain("Arrived live", "lenny@example.com"))
    row(web, "Arrived live")
    wait_until(web, lambda d: d.find_element(By.CSS_SELECTOR, '#mailboxes li[data-path="INBOX"] .unread').text == "2")

    row(web, "Arrived live").click()
    wait_until(web, lambda d: d.find_element(By.ID, "msg-subject").text == "Arrived live")
    web.find_element(By.ID, "btn-junk").click()
    boxes = mailbox_ids(server, uid)
    wait_until(web, lambda d: [m["subject"] for m in messages(server, uid, "Junk")] == ["Arrived live"], message="not in Junk")
    wait_until(web, lambda d: not d.find_elements(By.CSS_SELECTOR, '#messages .row[aria-label*="Arrived live"]'))
    assert "Junk" in boxes

    # A deletion by another client (the API here) disappears from the list live.
    first = [m for m in messages(server, uid) if m["subject"] == "First one"][0]
    status, _ = server.api("DELETE", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{first['id']}")
    assert status == 200
    wait_until(web, lambda d: not d.find_elements(By.CSS_SELECTOR, '#messages .row[aria-label*="First one"]'))


def test_sign_in_with_totp(web, server):
    uid = user(server, "tina")
    status, body = server.api("POST", f"/users/{uid}/2fa/totp/setup", {"issuer": "Eider"})
    assert status == 200, body
    seed = body["seed"]
    status, body = server.api("POST", f"/users/{uid}/2fa/totp/enable", {"token": totp(seed)})
    assert status == 200, body

    sign_in(web, "tina")
    code = wait_for(web, "#totp-code")
    assert not web.find_element(By.ID, "app-view").is_displayed()
    code.send_keys("000000" if totp(seed) != "000000" else "111111")
    web.find_element(By.ID, "totp-submit").click()
    wait_until(web, lambda d: d.find_element(By.ID, "second-error").text != "")
    code.clear()
    # The next step's code: the one that enabled TOTP may not be used again.
    code.send_keys(totp(seed, time.time() + 30))
    web.find_element(By.ID, "totp-submit").click()
    signed_in(web)


def test_security_key_registration_and_sign_in(web, server):
    user(server, "kira")
    web.execute_cdp_cmd("WebAuthn.enable", {"enableUI": False})
    auth = web.execute_cdp_cmd("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": False,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
    }})["authenticatorId"]
    try:
        sign_in(web, "kira")
        signed_in(web)
        web.find_element(By.ID, "btn-settings").click()
        web.find_element(By.CSS_SELECTOR, '#settings [data-tab="security"]').click()
        web.find_element(By.ID, "webauthn-add").click()
        wait_until(web, lambda d: "added" in d.find_element(By.ID, "security-msg").text,
                   message=lambda: web.find_element(By.ID, "security-msg").text)
        wait_for(web, "#webauthn-list li")
        web.find_element(By.ID, "settings-close").click()
        web.find_element(By.ID, "btn-logout").click()

        sign_in(web, "kira")
        wait_for(web, "#webauthn-button").click()
        signed_in(web)
    finally:
        web.execute_cdp_cmd("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": auth})


def test_compose_with_attachment_and_send(web, server, sink, tmp_path):
    uid = user(server, "sam")
    deliver(server, ["sam@example.com"], plain("Lunch?", "sam@example.com", body="Shall we?\r\n"))
    sign_in(web, "sam")
    signed_in(web)

    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"attached notes\n")
    web.find_element(By.ID, "btn-compose").click()
    wait_for(web, "#compose-to").send_keys("Bob <bob@example.net>")
    web.find_element(By.ID, "compose-subject").send_keys("Plans")
    web.find_element(By.ID, "compose-body").send_keys("See the notes.")
    web.find_element(By.ID, "compose-files").send_keys(str(upload))
    wait_for(web, "#compose-attachments li")
    shot(web, "compose")
    before = len(sink.received)
    web.find_element(By.ID, "compose-send").click()
    wait_until(web, lambda d: len(sink.received) > before, message="nothing relayed")
    mail_from, rcpts, data = sink.received[-1]
    assert rcpts == ["bob@example.net"] and mail_from == "sam@example.com"
    parsed = message_from_bytes(data)
    assert parsed["Subject"] == "Plans"
    parts = {p.get_filename(): p.get_payload(decode=True) for p in parsed.walk() if p.get_filename()}
    assert parts == {"notes.txt": b"attached notes\n"}
    wait_until(web, lambda d: [m["subject"] for m in messages(server, uid, "Sent Mail")] == ["Plans"])

    # Reply: threading headers come from the referenced message.
    row(web, "Lunch?").click()
    wait_until(web, lambda d: d.find_element(By.ID, "msg-subject").text == "Lunch?")
    web.find_element(By.ID, "btn-reply").click()
    assert wait_for(web, "#compose-subject").get_attribute("value") == "Re: Lunch?"
    assert "dan@example.org" in web.find_element(By.ID, "compose-to").get_attribute("value")
    web.find_element(By.ID, "compose-body").send_keys("Yes!")
    web.find_element(By.ID, "compose-send").click()
    wait_until(web, lambda d: len(sink.received) > before + 1, message="reply not relayed")
    reply = message_from_bytes(sink.received[-1][2])
    assert reply["In-Reply-To"] and "Lunch" in reply["In-Reply-To"]

    # A draft is kept in Drafts.
    web.find_element(By.ID, "btn-compose").click()
    wait_for(web, "#compose-subject").send_keys("Unfinished")
    web.find_element(By.ID, "compose-save").click()
    wait_until(web, lambda d: [m["subject"] for m in messages(server, uid, "Drafts")] == ["Unfinished"])
    web.find_element(By.ID, "compose-discard").click()


def test_application_password_and_profile(web, server, downloads):
    uid = user(server, "ada")
    sign_in(web, "ada")
    signed_in(web)
    web.find_element(By.ID, "btn-settings").click()
    wait_for(web, "#asp-description").send_keys("Phone mail")
    web.find_element(By.ID, "asp-create").click()
    password = wait_for(web, "#asp-password").text.replace(" ", "")
    assert len(password) == 16
    status, body = server.api("GET", f"/users/{uid}/asps")
    assert [a["description"] for a in body["results"]] == ["Phone mail"]
    # The password works for IMAP.
    import imaplib
    host, port = server.hostport("IMAP")
    client = imaplib.IMAP4(host, port)
    client.login("ada", password)
    client.logout()

    for old in downloads.glob("*.mobileconfig"):
        old.unlink()
    web.find_element(By.ID, "asp-download").click()
    wait_until(web, lambda d: list(downloads.glob("*.mobileconfig")), message="no profile downloaded")
    profile = list(downloads.glob("*.mobileconfig"))[0].read_bytes()
    assert b"com.apple.mail.managed" in profile and password.encode() in profile
    shot(web, "settings")
    web.find_element(By.ID, "settings-close").click()


def test_phone_width_and_keyboard(web, server):
    uid = user(server, "pia")
    for i in range(2):
        deliver(server, ["pia@example.com"], plain(f"Phone {i}", "pia@example.com"))
    web.set_window_size(390, 844)
    try:
        sign_in(web, "pia")
        signed_in(web)
        # The mailbox list is a drawer at phone width.
        assert not web.find_element(By.ID, "sidebar").is_displayed() or \
            web.find_element(By.ID, "btn-menu").is_displayed()
        first = row(web, "Phone 1")
        first.click()
        wait_until(web, lambda d: d.find_element(By.ID, "msg-subject").text == "Phone 1")
        assert not web.find_element(By.ID, "list-pane").is_displayed()
        shot(web, "phone")
        web.find_element(By.ID, "btn-back").click()
        wait_for(web, "#list-pane")
        # Keyboard: focus the list, move down with j, flag with s.
        web.find_element(By.ID, "messages").click()
        body = web.find_element(By.TAG_NAME, "body")
        row(web, "Phone 1").send_keys("j")
        wait_until(web, lambda d: "Phone 0" in (d.switch_to.active_element.get_attribute("aria-label") or ""))
        body = web.switch_to.active_element
        body.send_keys("s")
        wait_until(web, lambda d: [m["flagged"] for m in messages(server, uid) if m["subject"] == "Phone 0"] == [True])
    finally:
        web.set_window_size(1400, 900)
