#!/usr/bin/env python3
"""Look at the built book the way a reader does: in a real browser, offline.

Builds the book (or takes an existing build with --html), serves it on 127.0.0.1,
opens every page in headless Chromium (driven over the DevTools protocol on a pipe:
no extra Python packages), waits for MathJax, saves a full-page screenshot of each
page in --out, and fails (exit 1, one line per problem) on:

  * a broken image   - an <img> that did not load (naturalWidth 0) or whose file is
                       missing or does not decode;
  * raw TeX          - `$$`, `\\frac`, `\\begin{`, `\\(`... left in the text a reader
                       sees once MathJax has run (code, <pre> and MathJax output are
                       not looked at);
  * raw MyST         - directive or role syntax shown as text (```{, :::,
                       :class: dropdown, {admonition}, {ref}`...`);
  * split output     - a cell whose printed lines are cut into several boxes;
  * the internet     - a <script src> or stylesheet <link> that is not local (http/https
                       or //host), or any request the page makes to a host other than the
                       local server (Chromium's network log; offline it would fail);
  * failed request   - a local file the page asks for that is not there (HTTP >= 400);
  * JS error         - an exception the page's JavaScript throws;
  * blank widget     - stored ipywidgets (a widget-view <script>) that did not render;
  * too wide         - at the --window-size viewport (1280 px wide by default), a code cell,
                       a cell's output box, a code block, a table or a MathJax display
                       equation whose content reaches past the article column (the text
                       column between the side bars, its padding left out) by more than
                       WIDE_TOLERANCE_PX: the theme cuts it off behind a sideways scroll bar
                       or it runs under the right-hand side bar. Closed dropdowns are opened
                       first, so a solution's code is measured too;
  * shrunk picture   - an <img> in a cell's output shown narrower than IMAGE_MIN_SCALE of its
                       natural (file) width: a figure wider than the column is scaled down to
                       the column (max-width: 100%), so a 32-px-image strip or a fine grid is
                       shown smaller than it was drawn and a reader cannot judge it.

console.error() messages are listed as "warn", which does not fail the check; so are
the errors in KNOWN_NOISE (harmless, from the theme's extensions, on every page), once
for the whole book. Exit 0 prints one line per page; exit 2 means Chromium is missing
or could not start.

    .venv/bin/python scripts/check_book.py                 # build, then check
    .venv/bin/python scripts/check_book.py --html _build/html --out /tmp/shots
"""

from __future__ import annotations

import argparse
import base64
import functools
import html.parser
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HINT = "Chromium is needed: sudo apt-get install -y chromium  (Debian/Ubuntu), or set CHROMIUM=/path/to/chrome"
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}
MAX_SHOT_HEIGHT = 16000  # px; Chromium cannot capture taller surfaces reliably
WINDOW_SIZE = (1280, 2400)  # px; the viewport every page is laid out, measured and shot at
# --- layout: what must fit the article column at WINDOW_SIZE ----------------------------
WIDE_TOLERANCE_PX = 1  # an element may reach this far past the column (sub-pixel rounding)
# A picture in an output must be shown at least this fraction of its file's width. The
# theme gives <img> max-width: 100%, so a figure wider than the column is scaled down to it
# (Chapter 8's 1,489-px strip of 32-px pictures was shown 44 px high at a 688-px column).
IMAGE_MIN_SCALE = 0.98

# --- what a reader must never see -------------------------------------------------
RAW_TEX = [
    (re.compile(r"\$\$"), "$$"),
    (re.compile(r"\\begin\{|\\end\{"), "\\begin{ / \\end{"),
    (re.compile(r"\\[()\[\]]"), "\\( \\) \\[ \\] delimiters"),
    (re.compile(r"\\(?:frac|dfrac|tfrac|sqrt|sum|prod|int|log|exp|mathbb|mathcal|mathbf|mathrm|"
                r"operatorname|text|left|right|cdot|times|quad|qquad|partial|nabla|infty|"
                r"alpha|beta|gamma|delta|epsilon|varepsilon|theta|lambda|mu|sigma|pi|"
                r"sim|approx|leq|geq|le|ge|neq|in|mid|hat|bar|tilde|underbrace|overline)\b"),
     "TeX command"),
    (re.compile(r"(?<![\w$])\$[^$\s][^$\n]{0,200}?[\\^_][^$\n]{0,200}?\$(?![\w$])"), "$...$ inline math"),
]
RAW_MYST = [
    (re.compile(r"```\s*\{"), "```{ directive fence"),
    (re.compile(r"(?m)^\s*:::"), "::: colon fence"),
    (re.compile(r":::\s*\{"), ":::{ colon fence"),
    (re.compile(r":class:\s*\w"), ":class: option"),
    (re.compile(r"\{(?:admonition|note|tip|warning|important|caution|danger|hint|seealso|"
                r"dropdown|figure|image|math|code-cell|glue|toctree|tab-set|card)\}"), "{directive} name"),
    (re.compile(r"\{[a-z][\w:-]*\}`"), "{role}` syntax"),
    (re.compile(r"(?m)^\s*:(?:label|name|width|align|open|caption|class):\s"), "directive option"),
]
# Errors every page shows that do no harm and are not the book's to fix: (pattern, why).
KNOWN_NOISE = [
    (re.compile(r"JS error: SyntaxError: Identifier 'THEBE_JS_URL' has already been declared"),
     "sphinx-thebe 0.3.1 adds its config <script> twice; the second `const` fails, the first holds"),
    (re.compile(r"console\.error: Got invalid theme mode: \. Resetting to auto"),
     "pydata-sphinx-theme with no stored light/dark choice falls back to auto"),
    (re.compile(r"failed request: HTTP 404 for \S+/favicon\.ico$"),
     "the browser asks for /favicon.ico by itself; the book has none"),
]
# Subtrees whose text is not prose: code, scripts, MathJax's own output.
SKIP_TAGS = {"script", "style", "noscript", "template", "pre", "code", "kbd", "samp", "textarea",
             "svg", "math", "mjx-container", "mjx-assistive-mml", "head"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
             "param", "source", "track", "wbr"}

# Run in the page once it has loaded: force lazy images, wait for them and for MathJax.
PAGE_PROBE = r"""
(async () => {
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  for (const img of document.images) { if (img.loading === "lazy") img.loading = "eager"; }
  await Promise.race([
    Promise.all([...document.images].map((img) => img.complete ? null :
      new Promise((r) => { img.addEventListener("load", r); img.addEventListener("error", r); }))),
    wait(10000)]);
  // ipywidgets: html-manager puts a div.widget-subarea, holding the view, before each
  // widget-view <script> once require.js and embed-amd.js have run (after "load").
  const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  const rendered = () => views.filter((v) => {
    const p = v.previousElementSibling;
    return p && p.classList.contains("widget-subarea") && p.childElementCount > 0;
  }).length;
  if (views.length) {
    const t0 = Date.now();
    while (rendered() < views.length && Date.now() - t0 < 20000) await wait(200);
    if (rendered()) await wait(500);  // let the views lay out before the screenshot
  }
  let mathjax = null, mathjaxError = null;
  if (window.MathJax && window.MathJax.startup) {
    try {
      await Promise.race([window.MathJax.startup.promise, wait(15000)]);
      mathjax = window.MathJax.version || "unknown";
    } catch (e) { mathjaxError = String(e); }
  }
  const broken = [...document.images]
    .filter((img) => !img.complete || img.naturalWidth === 0)
    .map((img) => img.getAttribute("src"));
  return {
    broken, mathjax, mathjaxError, widgetViews: views.length, widgetsRendered: rendered(),
    mjx: document.querySelectorAll("mjx-container").length,
    mjxErrors: [...document.querySelectorAll("mjx-merror, [data-mjx-error]")]
      .map((e) => e.getAttribute("data-mjx-error") || e.textContent).slice(0, 5),
    images: document.images.length,
    height: Math.max(document.documentElement.scrollHeight, document.body.scrollHeight),
    dom: document.documentElement.outerHTML,
  };
})()
"""


# Run in the page after the screenshot: measure what must fit the article column.
# `extent` is how far right of the column's left edge an element's content reaches: the
# furthest right edge of it and of every box inside it, where a scroll container (a <pre>,
# a table's wrapper) counts its whole scrollWidth, what its scroll bar hides. A box with
# overflow hidden counts as its own size: what it clips is meant to be clipped.
LAYOUT_PROBE = r"""
((tolerance, minScale) => {
  const col = document.querySelector("article.bd-article") || document.querySelector("main")
    || document.body;
  for (const d of document.querySelectorAll("details:not([open])")) d.open = true;
  const cs = getComputedStyle(col), box = col.getBoundingClientRect();
  const left = box.left + col.clientLeft + parseFloat(cs.paddingLeft);
  const column = col.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const reach = (e) => {
    if (e.tagName === "MJX-ASSISTIVE-MML") return -Infinity;  // MathJax's copy for screen readers
    const b = e.getBoundingClientRect();
    const shown = b.width > 0 || b.height > 0;
    let right = shown ? b.right : -Infinity;
    const ox = getComputedStyle(e).overflowX;
    // clipped on purpose (MathJax's stretched braces are glyphs scaled 500x inside one):
    // only the box itself counts, not what it hides
    if (ox === "hidden" || ox === "clip") return right;
    if (shown) right = Math.max(right, b.left + e.clientLeft + e.scrollWidth);
    for (const c of e.children) right = Math.max(right, reach(c));
    return right;
  };
  const extent = (el) => Math.round(reach(el) - left);
  const first = (el) => ((el.innerText || el.textContent || "").trim().split("\n")[0] || "")
    .replace(/\s+/g, " ").slice(0, 60);
  const tex = (el) => {  // the equation's TeX source, which the chapter holds
    try {
      const item = window.MathJax.startup.document.getMathItemsWithin(el)[0];
      if (item) return item.math.trim().replace(/\s+/g, " ").slice(0, 60);
    } catch (e) { /* not MathJax 3 */ }
    return first(el);
  };
  const cells = [...col.querySelectorAll(".cell")];
  const cellNo = (el) => { const c = el.closest(".cell"); return c ? cells.indexOf(c) + 1 : 0; };
  const code = (el) => {  // the first line of the code cell an output belongs to
    const input = el.closest(".cell") && el.closest(".cell").querySelector(".cell_input");
    return input ? first(input) : "";
  };
  const wide = [], reported = [];
  const look = (kind, els, label) => {
    for (const el of els) {
      if (reported.some((r) => r.contains(el))) continue;  // inside one already listed
      const width = extent(el);
      if (width > column + tolerance) {
        reported.push(el);
        wide.push({kind, cell: cellNo(el), width, text: label(el), code: code(el)});
      }
    }
  };
  look("code cell", col.querySelectorAll(".cell_input"), first);
  look("output", [...col.querySelectorAll(".cell_output > *")]
    .filter((e) => !["SCRIPT", "STYLE", "LINK"].includes(e.tagName)), first);
  look("code block", [...col.querySelectorAll("div.highlight")].filter((e) => !e.closest(".cell")), first);
  look("table", [...col.querySelectorAll("table")].filter((e) => !e.closest(".cell_output")), first);
  look("display equation", col.querySelectorAll('mjx-container[display="true"]'), tex);
  const shrunk = [...col.querySelectorAll(".cell_output img")]
    .filter((i) => i.naturalWidth && i.clientWidth && i.clientWidth < i.naturalWidth * minScale)
    .map((i) => ({cell: cellNo(i), code: code(i), src: i.getAttribute("src") || "",
                  natural: [i.naturalWidth, i.naturalHeight], shown: [i.clientWidth, i.clientHeight]}));
  return {column: Math.round(column), wide, shrunk};
})
"""


def _code(found: dict) -> str:
    return f" `{found['code'][:40]}`" if found.get("code") else ""


def layout_problems(layout: dict) -> list[str]:
    """One line per element LAYOUT_PROBE found too wide for the column or shown shrunk. Cells
    are counted from 1 on the page (code cells: markdown cells are not counted); an output
    names the first line of the code that made it."""
    column = layout["column"]
    lines = []
    for w in layout["wide"]:
        where = {"code cell": f"code cell {w['cell']}",
                 "output": f"output of code cell {w['cell']}{_code(w)}"}.get(
            w["kind"], w["kind"] + (f" in code cell {w['cell']}{_code(w)}" if w["cell"] else ""))
        lines.append(f"too wide: {where} «{w['text']}» is {w['width']} px, the column {column} px "
                     f"(+{w['width'] - column})")
    for i in layout["shrunk"]:
        (nw, nh), (sw, sh) = i["natural"], i["shown"]
        lines.append(f"shrunk picture: output of code cell {i['cell']}{_code(i)}, {Path(i['src']).name[:24]} "
                     f"shown {sw}x{sh} px, drawn {nw}x{nh} px ({sw / nw:.0%}): wider than the "
                     f"{column}-px column, so the book scales it down")
    counts = dict.fromkeys(lines, 0)  # the same picture twice in one cell: one line, counted
    for line in lines:
        counts[line] += 1
    return [line + (f" (x{n}: {n} elements alike)" if n > 1 else "") for line, n in counts.items()]


# --- serving -------------------------------------------------------------------------
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - silence the per-request log
        pass


def serve(html_dir: Path):
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


# --- Chromium over the DevTools protocol (--remote-debugging-pipe) --------------------
class BrowserError(RuntimeError):
    pass


# argv: READ_FD WRITE_FD EXE ARGS...: copy the two fds above 9 first (either may be 3 or 4),
# then onto 3 and 4, close the rest, and exec EXE.
_ONTO_FDS_3_AND_4 = (
    "import fcntl, os, sys\n"
    "fds = [int(f) for f in sys.argv[1:3]]\n"
    "high = [fcntl.fcntl(f, fcntl.F_DUPFD, 10) for f in fds]\n"
    "os.dup2(high[0], 3); os.dup2(high[1], 4)\n"
    "for f in set(fds + high) - {3, 4}: os.close(f)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n")


class Browser:
    """Headless Chromium; commands go in on fd 3, replies come out on fd 4 (NUL-separated JSON)."""

    def __init__(self, exe: str, width: int, height: int):
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="check_book_chromium_")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
                "--mute-audio", "--disable-background-networking", "--disable-component-update",
                f"--window-size={width},{height}", "about:blank"]
        # A small Python step puts our pipe ends on fds 3 and 4, where Chromium expects them,
        # then becomes Chromium. (Not `sh -c '... 3<&12'`: dash takes no fd above 9, and a
        # process with many files open, pytest for one, gets pipes above 9.)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ONTO_FDS_3_AND_4, str(to_browser_r), str(from_browser_w), *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._events: list[dict] = []  # page events (network, JS errors) since drain_events()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # drain
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"}, timeout=60)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")
        self.call("Network.setCacheDisabled", {"cacheDisabled": True})  # every page logs every request

    EVENTS = {"Network.requestWillBeSent", "Network.responseReceived", "Network.loadingFailed",
              "Runtime.exceptionThrown", "Runtime.consoleAPICalled"}

    def drain_events(self) -> list[dict]:
        with self._cond:
            events, self._events = self._events, []
        return events

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                break
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._replies[msg["id"]] = msg
                        self._cond.notify_all()
                elif msg.get("method") in self.EVENTS:
                    with self._cond:
                        self._events.append(msg)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def call(self, method, params=None, timeout=60.0, session=True):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg["id"] not in self._replies:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise BrowserError(f"{method}: {'Chromium exited' if self._closed else 'timed out'}")
                self._cond.wait(left)
            reply = self._replies.pop(msg["id"])
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def evaluate(self, expression, timeout=60.0):
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in result:
            raise BrowserError(result["exceptionDetails"].get("text", "exception in page"))
        return result["result"].get("value")

    def set_viewport(self, height: int | None = None):
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": height or self.height, "deviceScaleFactor": 1,
                   "mobile": False})

    def open(self, url: str, timeout=30.0):
        self.set_viewport()
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while True:  # the old document may still answer for a moment after navigate
            try:
                state = self.evaluate("[location.href, document.readyState]", timeout=10)
                if state and state[0].split("#")[0] == url and state[1] == "complete":
                    return
            except BrowserError:
                pass
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading in {timeout:.0f} s")
            time.sleep(0.1)

    def screenshot(self, path: Path, page_height: int | None):
        self.set_viewport(min(max(page_height or self.height, self.height), MAX_SHOT_HEIGHT))
        time.sleep(0.2)  # let layout settle at the new size
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                         timeout=120)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=10)
        except BrowserError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


def find_chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


# --- reading a page -------------------------------------------------------------------
class _ProseText(html.parser.HTMLParser):
    """The text a reader sees as prose: everything outside code, scripts and MathJax output."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in VOID_TAGS:
            if tag == "br" and not self._skip:
                self.parts.append("\n")
            return
        classes = (dict(attrs).get("class") or "").split()
        if self._skip:
            if tag == self._skip[0]:
                self._skip.append(tag)
            return
        if tag in SKIP_TAGS or "highlight" in classes or "cell_input" in classes:
            self._skip.append(tag)
        elif tag in {"p", "div", "li", "td", "th", "dt", "dd", "br", "section", "h1", "h2", "h3",
                     "h4", "h5", "h6", "blockquote", "details", "summary"}:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if self._skip and tag == self._skip[0]:
            self._skip.pop()
        elif not self._skip and tag in {"p", "div", "li", "td", "th", "dd", "section"}:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        return "".join(self.parts)


def prose_text(dom: str) -> str:
    parser = _ProseText()
    parser.feed(dom)
    parser.close()
    return parser.text()


def _snippet(text: str, match: re.Match) -> str:
    start, end = max(match.start() - 30, 0), min(match.end() + 30, len(text))
    return " ".join(text[start:end].split())[:90]


def find_raw(text: str, patterns) -> list[str]:
    """One line per kind of leftover syntax: how many times, and where it first shows."""
    found = []
    for pattern, what in patterns:
        matches = list(pattern.finditer(text))
        if matches:
            more = f" ({len(matches)} times)" if len(matches) > 1 else ""
            found.append(f"{what}{more}, e.g. «{_snippet(text, matches[0])}»")
    return found


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.imgs: list[str] = []
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and "stylesheet" in (a.get("rel") or "").split() and a.get("href"):
            self.stylesheets.append(a["href"])


def _short(url: str, n: int = 100) -> str:
    return url if len(url) <= n else url[:n - 1] + "…"


def is_remote(url: str) -> bool:
    """An http(s) or protocol-relative URL: the page needs another host for it."""
    return urllib.parse.urlsplit(url).scheme in {"http", "https"} or url.startswith("//")


def read_events(events: list[dict], base_url: str):
    """From Chromium's log of one page: (problems, warnings).

    Problems: a request to a host other than the local server; a local request that failed
    (HTTP >= 400 or a network error); an uncaught JavaScript exception. Warnings:
    console.error() messages."""
    local = urllib.parse.urlsplit(base_url).netloc
    problems, warnings, urls = [], [], {}
    for ev in events:
        method, params = ev["method"], ev.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            parts = urllib.parse.urlsplit(url)
            if parts.scheme in {"data", "blob", "about", "chrome", "devtools"}:
                continue
            if parts.netloc != local:
                problems.append(f"leaves 127.0.0.1 (needs the internet): request to {_short(url)}")
        elif method == "Network.responseReceived":
            url, status = params["response"]["url"], params["response"]["status"]
            if status >= 400 and urllib.parse.urlsplit(url).netloc == local:
                problems.append(f"failed request: HTTP {status} for {_short(url)}")
        elif method == "Network.loadingFailed":
            url = urls.get(params.get("requestId"), "?")
            if urllib.parse.urlsplit(url).netloc == local and not params.get("canceled"):
                problems.append(f"failed request: {params.get('errorText')} for {_short(url)}")
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            text = (d.get("exception") or {}).get("description") or d.get("text", "")
            where = f" ({_short(d['url'], 60)}:{d.get('lineNumber', 0) + 1})" if d.get("url") else ""
            problems.append(f"JS error: {' '.join(str(text).split())[:160]}{where}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            warnings.append(f"console.error: {' '.join(text.split())[:160]}")
    return list(dict.fromkeys(problems)), list(dict.fromkeys(warnings))


def known_noise(line: str) -> str | None:
    """Why `line` is in KNOWN_NOISE, or None."""
    return next((why for pattern, why in KNOWN_NOISE if pattern.search(line)), None)


def check_image_file(html_dir: Path, page: Path, src: str) -> str | None:
    """None when `src` is an image that exists and decodes; else why not."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency of the course
        Image = None
    if src.startswith("data:"):
        try:
            payload = base64.b64decode(src.split(",", 1)[1])
        except Exception:  # noqa: BLE001
            return "data: URI does not decode"
        stream, label = io.BytesIO(payload), "data: URI"
    else:
        parts = urllib.parse.urlsplit(src)
        if parts.scheme in {"http", "https"} or src.startswith("//"):
            return None  # remote pictures are the browser check's business
        path = (page.parent / urllib.parse.unquote(parts.path)).resolve()
        if not path.is_relative_to(html_dir.resolve()) or not path.is_file():
            return "file is missing"
        if path.suffix.lower() == ".svg":
            return None if path.stat().st_size else "file is empty"
        stream, label = path, "file"
    if Image is None:
        return None
    try:
        with Image.open(stream) as im:
            im.verify()
    except Exception as e:  # noqa: BLE001
        return f"{label} does not decode ({type(e).__name__})"
    return None


def split_outputs(static_html: str) -> int:
    """How many notebook cells show their printed lines in more than one box."""
    # a tagged cell's class is "cell tag_<tag> docutils container": split on every cell
    cells = re.split(r'class="cell(?: [^"]*)? docutils container"', static_html)[1:]
    return sum(1 for c in cells if len(re.findall(r'class="output (?:stream|stdout)\b', c)) > 1)


def pages_of(html_dir: Path) -> list[Path]:
    pages = []
    for p in sorted(html_dir.rglob("*.html")):
        rel = p.relative_to(html_dir)
        if rel.parts[0].startswith("_") or rel.name in SKIP_PAGES:
            continue
        head = p.read_text(errors="replace")[:2000].lower()
        if 'http-equiv="refresh"' in head:  # jupyter-book's index.html redirect
            continue
        pages.append(p)
    return pages


def check_page(browser: Browser, base_url: str, html_dir: Path, page: Path, shots: Path):
    rel = page.relative_to(html_dir).as_posix()
    static_html = page.read_text(errors="replace")
    problems, warnings = [], []

    tags = _Tags()
    tags.feed(static_html)
    for src in dict.fromkeys(tags.imgs):
        why = check_image_file(html_dir, page, src)
        if why:
            problems.append(f"broken image {src[:80]}: {why}")
    for src in dict.fromkeys(tags.scripts):
        if is_remote(src):
            problems.append(f"needs the internet: <script src={src}>")
    for href in dict.fromkeys(tags.stylesheets):
        if is_remote(href):
            problems.append(f"needs the internet: <link rel=stylesheet href={href}>")

    url = base_url + urllib.parse.quote(rel)
    browser.drain_events()
    browser.open(url)
    probe = browser.evaluate(PAGE_PROBE, timeout=90)
    shot = shots / (rel.replace("/", "__").removesuffix(".html") + ".png")
    browser.screenshot(shot, probe["height"])
    browser.set_viewport()  # measure at the viewport's own size, not the screenshot's
    time.sleep(0.2)
    layout = browser.evaluate(f"{LAYOUT_PROBE}({WIDE_TOLERANCE_PX}, {IMAGE_MIN_SCALE})", timeout=60)
    seen, heard = read_events(browser.drain_events(), base_url)
    noise = [why for why in map(known_noise, seen + heard) if why]
    problems += [p for p in seen if not known_noise(p)]
    warnings += [w for w in heard if not known_noise(w)]

    for src in probe["broken"]:
        line = f"broken image {str(src)[:80]}: did not load in the browser (naturalWidth 0)"
        if not any(p.startswith(f"broken image {str(src)[:80]}:") for p in problems):
            problems.append(line)
    has_math = 'class="math' in static_html
    if has_math and not probe["mathjax"]:
        mj = [s for s in tags.scripts if "mathjax" in s.lower()]
        problems.append(f"MathJax did not run (script: {mj[0] if mj else 'none'}"
                        f"{'; ' + probe['mathjaxError'] if probe['mathjaxError'] else ''})")
    for err in probe["mjxErrors"]:
        problems.append(f"TeX error shown by MathJax: {err[:90]}")
    text = prose_text(probe["dom"])
    problems += [f"raw TeX — {x}" for x in find_raw(text, RAW_TEX)]
    problems += [f"raw MyST — {x}" for x in find_raw(text, RAW_MYST)]
    n_split = split_outputs(static_html)
    if n_split:
        problems.append(f"split output: {n_split} cell(s) print in several boxes (nb_merge_streams off?)")
    if probe["widgetsRendered"] < probe["widgetViews"]:
        problems.append(f"blank widget: {probe['widgetViews'] - probe['widgetsRendered']} of "
                        f"{probe['widgetViews']} ipywidgets did not render in 20 s")
    problems += layout_problems(layout)
    info = (f"{probe['images']} images, {probe['mjx']} equations, MathJax {probe['mathjax'] or '-'}, "
            f"column {layout['column']} px")
    if probe["widgetViews"]:
        info += f", {probe['widgetsRendered']}/{probe['widgetViews']} widgets"
    return rel, problems, warnings, info, shot, noise


def build_book(path_output: Path | None) -> Path:
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        sys.exit("jupyter-book is not installed: .venv/bin/pip install -e '.[dev]'")
    cmd = [jb, "build", str(ROOT), "--config", str(ROOT / "book" / "_config.yml"),
           "--toc", str(ROOT / "book" / "_toc.yml"), "-W", "-n", "--keep-going"]
    if path_output:
        cmd += ["--path-output", str(path_output)]
    print("building the book:", " ".join(cmd[1:]), flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        print("FAIL: the book does not build", file=sys.stderr)
        sys.exit(1)
    return (path_output or ROOT) / "_build" / "html"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", type=Path, help="check this existing build (a _build/html folder) instead of building")
    ap.add_argument("--path-output", type=Path, help="build into PATH/_build (jupyter-book --path-output)")
    ap.add_argument("--out", type=Path, help="screenshot folder (default: _build/screenshots next to the HTML)")
    ap.add_argument("--window-size", default="%d,%d" % WINDOW_SIZE,
                    help="browser viewport WIDTH,HEIGHT (default %d,%d); " % WINDOW_SIZE +
                    f"screenshots grow to the whole page, up to {MAX_SHOT_HEIGHT} px")
    ap.add_argument("--page", action="append", default=[],
                    help="only pages whose path contains this (repeatable)")
    args = ap.parse_args(argv)

    chromium = find_chromium()
    if chromium is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    started = time.monotonic()
    html_dir = args.html if args.html else build_book(args.path_output)
    if not (html_dir / "index.html").is_file() and not pages_of(html_dir):
        print(f"{html_dir} holds no built book", file=sys.stderr)
        return 2
    shots = args.out or html_dir.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in args.window_size.split(","))
    pages = [p for p in pages_of(html_dir)
             if not args.page or any(s in p.relative_to(html_dir).as_posix() for s in args.page)]

    server, base_url = serve(html_dir)
    try:
        browser = Browser(chromium, width, height)
    except (BrowserError, OSError) as e:
        server.shutdown()
        print(f"Chromium ({chromium}) did not start: {e}\n{INSTALL_HINT}", file=sys.stderr)
        return 2
    failed = 0
    noise: dict[str, int] = {}
    try:
        for page in pages:
            t0 = time.monotonic()
            rel = page.relative_to(html_dir).as_posix()
            try:
                rel, problems, warnings, info, _, page_noise = check_page(browser, base_url, html_dir, page, shots)
                for why in dict.fromkeys(page_noise):
                    noise[why] = noise.get(why, 0) + 1
            except BrowserError as e:
                problems, warnings, info = [f"the browser could not check it: {e}"], [], ""
            status = "FAIL" if problems else "ok"
            failed += bool(problems)
            print(f"{status:4}  {rel}  ({info}; {time.monotonic() - t0:.1f} s)")
            for p in problems:
                print(f"      {rel}: {p}")
            for w in warnings:
                print(f"      warn {rel}: {w}")
    finally:
        browser.close()
        server.shutdown()
    took = time.monotonic() - started
    for why, n in noise.items():
        print(f"      warn (known, {n} page{'s' * (n > 1)}): {why}")
    print(f"{len(pages) - failed}/{len(pages)} pages clean; screenshots in {shots}; {took:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
