"""Check a built static site in headless Chromium: every page loads cleanly.

    python tools/check_site.py docs
    python tools/check_site.py --page card.html [--screenshot card.png]

Serves the directory on a free 127.0.0.1 port, loads each of its HTML pages in
headless Chromium and reports, per page: console errors, uncaught exceptions,
failed loads (network errors and HTTP statuses >= 400), requests that would
leave the machine (blocked before they are sent: the site must work offline)
and links to pages of the site that don't exist. Exits 1 if any page has a
problem. Only the standard library is used: Chromium is driven through the
DevTools protocol over a pipe (--remote-debugging-pipe).
"""

import argparse
import base64
import contextlib
import functools
import http.server
import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

PAGE_TIMEOUT = 60  # seconds for one page to reach network idle

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]

# Links on a page whose targets are checked, as a JSON list of absolute URLs.
LINKS_SCRIPT = "JSON.stringify(Array.from(document.querySelectorAll('a[href]'), a => a.href))"


class ChromiumError(RuntimeError):
    """Chromium can't be found, can't start or stopped answering."""


def find_chromium(explicit=None):
    for candidate in (explicit, os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        path = candidate and shutil.which(candidate)
        if path:
            return path
    raise ChromiumError(
        "Chromium is needed to check the site and there is none: install Debian's "
        "`chromium` package (make setup does), or name one with --chromium or $CHROMIUM."
    )


class Browser:
    """A headless Chromium and one page of it, driven over the DevTools pipe.

    Chromium reads commands from its fd 3 and writes replies and events to fd 4,
    each a JSON message ended by a NUL byte.
    """

    def __init__(self, executable):
        self.profile = tempfile.mkdtemp(prefix="check-site-chromium-")
        to_chromium_r, self._to_chromium = os.pipe()
        self._from_chromium, from_chromium_w = os.pipe()

        def on_fds_3_and_4():
            os.dup2(to_chromium_r, 3)
            os.dup2(from_chromium_w, 4)

        # preexec_fn is safe here: the checker starts Chromium before any thread.
        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=on_fds_3_and_4,
        )
        os.close(to_chromium_r)
        os.close(from_chromium_w)
        self._buffer = b""
        self._next_id = 0
        self.session = None
        self.on_event = lambda method, params: None
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        except ChromiumError:
            self.close()
            raise

    def send(self, method, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._to_chromium, json.dumps(message).encode() + b"\0")
        return self._next_id

    def call(self, method, **params):
        """Send a command and wait for its reply, handing events meanwhile to on_event."""
        wanted = self.send(method, **params)
        while True:
            message = self.receive(timeout=PAGE_TIMEOUT)
            if message is None:
                raise ChromiumError(f"Chromium didn't answer {method} within {PAGE_TIMEOUT}s.")
            if message.get("id") == wanted:
                if "error" in message:
                    raise ChromiumError(f"{method} failed: {message['error'].get('message')}")
                return message.get("result", {})
            self.dispatch(message)

    def dispatch(self, message):
        if "method" in message:
            self.on_event(message["method"], message.get("params", {}))

    def receive(self, timeout):
        """The next message, or None if none came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chromium], [], [], left)[0]:
                return None
            chunk = os.read(self._from_chromium, 1 << 16)
            if not chunk:
                raise ChromiumError(f"Chromium exited (status {self.process.poll()}).")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self):
        try:
            os.write(self._to_chromium, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._to_chromium)
            os.close(self._from_chromium)
            shutil.rmtree(self.profile, ignore_errors=True)


def console_text(args):
    return " ".join(str(arg.get("value", arg.get("description", ""))) for arg in args)


class PageLoad:
    """Problems seen while one page loads, from the DevTools events it causes."""

    def __init__(self, browser, origin):
        self.browser = browser
        self.origin = origin
        self.problems = []
        self.requests = {}
        self.blocked = set()
        self.loader = None
        self.idle = False

    def on_event(self, method, params):
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            if url.startswith(self.origin) or url.startswith(("data:", "blob:")):
                self.browser.send("Fetch.continueRequest", requestId=params["requestId"])
            else:
                self.problems.append(f"request off the machine (blocked): {url}")
                self.blocked.add(url)
                self.browser.send("Fetch.failRequest", requestId=params["requestId"], errorReason="BlockedByClient")
        elif method == "Network.requestWillBeSent":
            self.requests[params["requestId"]] = params["request"]["url"]
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            response = params["response"]
            self.problems.append(f"HTTP {response['status']}: {response['url']}")
        elif method == "Network.loadingFailed":
            url = self.requests.get(params["requestId"], "?")
            if url not in self.blocked:
                self.problems.append(f"failed load ({params.get('errorText')}): {url}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"uncaught exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.problems.append(f"console.{params['type']}: {console_text(params.get('args', []))}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.problems.append(f"console error: {entry['text']} {entry.get('url', '')}".rstrip())
        elif method == "Page.lifecycleEvent" and params["name"] == "networkIdle":
            self.idle = self.idle or params.get("loaderId") == self.loader


def load_page(browser, site, origin, page_path):
    """The problems of one page: load it and wait until its network is idle."""
    page = PageLoad(browser, origin)
    browser.on_event = page.on_event
    navigated = browser.call("Page.navigate", url=origin + page_path)
    if navigated.get("errorText"):
        return [f"navigation failed: {navigated['errorText']}"]
    page.loader = navigated.get("loaderId")
    deadline = time.monotonic() + PAGE_TIMEOUT
    while not page.idle:
        message = browser.receive(timeout=max(0.0, deadline - time.monotonic()))
        if message is None:
            return page.problems + [f"not loaded within {PAGE_TIMEOUT}s"]
        browser.dispatch(message)
    page.problems.extend(broken_links(browser, site, origin))
    return page.problems


def broken_links(browser, site, origin):
    """Links from the loaded page to files of the site that don't exist."""
    reply = browser.call("Runtime.evaluate", expression=LINKS_SCRIPT, returnByValue=True)
    problems = []
    for link in sorted(set(json.loads(reply["result"]["value"]))):
        if not link.startswith(origin):
            continue
        path = urllib.parse.unquote(urllib.parse.urlsplit(link).path)
        target = site / path.lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"broken link: {path}")
    return problems


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def serve(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextlib.contextmanager
def browsing(site, chromium=None):
    """(browser, origin): a Chromium with every request off the machine blocked, and
    `site` served at origin, both stopped on exit."""
    browser = Browser(find_chromium(chromium))
    server = serve(site)
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}/"
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable")
        browser.call("Page.setLifecycleEventsEnabled", enabled=True)
        browser.call("Fetch.enable", patterns=[{"urlPattern": "*"}])
        yield browser, origin
    finally:
        server.shutdown()
        server.server_close()
        browser.close()


def check_site(site, chromium=None):
    """{page path: [problems]} for every HTML page under `site`."""
    site = Path(site).resolve()
    pages = sorted(path.relative_to(site).as_posix() for path in site.rglob("*.html"))
    if not pages:
        raise ValueError(f"{site} holds no HTML pages.")
    with browsing(site, chromium) as (browser, origin):
        return {page: load_page(browser, site, origin, page) for page in pages}


def check_page(path, chromium=None, screenshot=None, width=1000):
    """The problems of one HTML file loaded as check_site loads a site's pages; with
    `screenshot`, a PNG of the whole page, `width` CSS pixels wide, is written there."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ValueError(f"{path} is not a file.")
    with browsing(path.parent, chromium) as (browser, origin):
        browser.call("Emulation.setDeviceMetricsOverride", width=width, height=800,
                     deviceScaleFactor=1, mobile=False)
        problems = load_page(browser, path.parent, origin, urllib.parse.quote(path.name))
        if screenshot:
            size = browser.call("Page.getLayoutMetrics")["cssContentSize"]
            shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                clip={"x": 0, "y": 0, "width": width,
                                      "height": math.ceil(size["height"]), "scale": 1})
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", help="the directory of the built site, e.g. docs; with --page, "
                                     "an HTML file")
    parser.add_argument("--page", action="store_true", help="check the one HTML file `site`")
    parser.add_argument("--screenshot", help="with --page: write a PNG of the page here")
    parser.add_argument("--chromium", help="the Chromium executable (default: chromium on the PATH)")
    args = parser.parse_args(argv)
    try:
        if args.page:
            results = {args.site: check_page(args.site, args.chromium, args.screenshot)}
        else:
            results = check_site(args.site, args.chromium)
    except (ChromiumError, ValueError) as err:
        print(f"check_site: {err}", file=sys.stderr)
        return 2
    failed = {page: problems for page, problems in results.items() if problems}
    for page, problems in failed.items():
        print(f"FAIL {page}")
        for problem in problems:
            print(f"     {problem}")
    if failed:
        print(f"check_site: {len(failed)} of {len(results)} pages have problems")
        return 1
    print(f"check_site: {len(results)} pages loaded in Chromium: no console errors, no failed loads, no broken links")
    return 0


if __name__ == "__main__":
    sys.exit(main())
