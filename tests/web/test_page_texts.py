"""Every word the pages show comes from the `pages` catalogue (server/core/locales/<lang>/pages.json).

The HTML may hold `{{key}}` tokens, symbols and code samples (<code>, <kbd>), never words; the
scripts may hold catalogue keys and technical strings (event names, selectors, headers), never
a text that reaches the reader. A script's texts reach the reader through a few sinks
(`textContent =`, `placeholder`, `title`, `alt`, `aria-label`, `new Option`) and through the
small functions that write one (`say`, `notice`, `button`, ...; found by reading the scripts).
The scanners are checked against samples that must fail, so they cannot pass by seeing nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

import server
from server.core.i18n import catalogue
from server.web.pages import PAGES_DIR, TOKEN

HTML_FILES = sorted(PAGES_DIR.glob("*.html"))
JS_FILES = sorted((PAGES_DIR / "static").glob("*.js"))
PAGES = ("index", "send", "moderate", "screen")
PAGE = "(?:" + "|".join(PAGES) + ")"
KEY = re.compile(r"^" + PAGE + r"\.[\w.]*(?:\$\{\}[\w.]*)*$")
WORDS = re.compile(r"[^\W\d_]")  # a letter of any script: English, or Chinese left in the page
SHOWN_ATTRIBUTES = {"placeholder", "aria-label", "title", "alt"}
# Strings the scripts need that nobody reads: the API's values they compare, header names, keys.
TECHNICAL = {
    "use strict", "not found", "blocked word", "Content-Type", "Idempotency-Key", "Authorization",
    "Retry-After", "Enter", "ArrowDown", "ArrowUp", "AbortError", "Bearer ${}",
    "HTTP ${}",  # an Error thrown to the catch that shows the catalogue's own text
}


# -- HTML --

class Words(HTMLParser):
    """The text nodes and shown attributes of a page, less its tokens, code samples and data."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("code", "kbd", "script", "style"):
            self.skipping.append(tag)
        for name, value in attrs:
            if name in SHOWN_ATTRIBUTES or (name == "value" and ("type", "submit") in attrs):
                self.seen(f"{name}=", value or "")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.seen("", data)

    def seen(self, where: str, text: str) -> None:
        if WORDS.search(TOKEN.sub("", text)):
            self.found.append(f"{where}{text.strip()}")


def html_words(html: str) -> list[str]:
    parser = Words()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("path", HTML_FILES, ids=lambda p: p.name)
def test_a_page_holds_no_words_of_its_own(path: Path) -> None:
    assert html_words(path.read_text(encoding="utf-8")) == []


def test_the_html_scan_sees_words() -> None:
    sample = ('<p>Hello {{send.title}}</p><input placeholder="Name"><img alt="{{screen.qr_alt}}">'
              '<code>b.a.d</code><kbd>j</kbd> · <button aria-label="Close">×</button><p>你好</p>')
    assert html_words(sample) == ["Hello {{send.title}}", "placeholder=Name", "aria-label=Close", "你好"]


# -- scripts --

@dataclass(frozen=True)
class Literal:
    text: str  # a template literal's static parts, each ${...} as "${}"
    start: int
    line: int


def literals(js: str) -> list[Literal]:
    """The string and template literals of a script (comments and regex literals skipped)."""
    found: list[Literal] = []
    _scan(js, 0, found, until=None)
    return found


def _scan(js: str, i: int, found: list[Literal], until: str | None) -> int:
    depth = 0
    significant = "("
    while i < len(js):
        c = js[i]
        if c == until and depth == 0:
            return i + 1
        if js.startswith("//", i):
            i = js.find("\n", i)
            i = len(js) if i < 0 else i
            continue
        if js.startswith("/*", i):
            i = js.index("*/", i) + 2
            continue
        if c in "'\"":
            end = _string_end(js, i)
            found.append(Literal(js[i + 1:end], i, js.count("\n", 0, i) + 1))
            i, significant = end + 1, "a"
            continue
        if c == "`":
            i, significant = _template(js, i, found), "a"
            continue
        if c == "/" and significant in "(,=:[!&|?{};+":
            i, significant = _regex_end(js, i), "a"
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        if not c.isspace():
            significant = c if not (c.isalnum() or c in "_$.)]") else "a"
        i += 1
    return i


def _string_end(js: str, i: int) -> int:
    quote, i = js[i], i + 1
    while js[i] != quote:
        i += 2 if js[i] == "\\" else 1
    return i


def _regex_end(js: str, i: int) -> int:
    i, in_class = i + 1, False
    while in_class or js[i] != "/":
        if js[i] == "\\":
            i += 1
        elif js[i] in "[]":
            in_class = js[i] == "["
        i += 1
    return i + 1


def _template(js: str, start: int, found: list[Literal]) -> int:
    i, text = start + 1, []
    while js[i] != "`":
        if js[i] == "\\":
            text.append(js[i:i + 2])
            i += 2
        elif js.startswith("${", i):
            text.append("${}")
            i = _scan(js, i + 2, found, until="}")
        else:
            text.append(js[i])
            i += 1
    found.append(Literal("".join(text), start, js.count("\n", 0, start) + 1))
    return i + 1


SINKS = re.compile(r"\.(?:textContent|placeholder|title|alt)\s*=(?!=)|new Option\("
                   r"|setAttribute\(\s*\"(?:" + "|".join(SHOWN_ATTRIBUTES) + r")\",")
# Each argument a node or a text.
INSERTERS = re.compile(r"\.(?:append|prepend|replaceChildren|createTextNode)\(")
# Where a literal is code's, not the reader's: compared with, a method's argument (a selector, a
# header, a query key; not the DOM's text inserters), a class name.
TECHNICAL_BEFORE = re.compile(r"(?:[!=]==|\.(?!append\b|prepend\b|replaceChildren\b|createTextNode\b)\w+\("
                              r"|className\s*=)\s*$")
TECHNICAL_AFTER = re.compile(r"^\s*[!=]==")


def technical(js: str, lit: Literal) -> bool:
    end = lit.start + len(lit.text) + 2 if "${}" not in lit.text else js.find("`", lit.start + 1) + 1
    return bool(TECHNICAL_BEFORE.search(js[max(0, lit.start - 40):lit.start])
                or TECHNICAL_AFTER.match(js[end:end + 10]))


def text_functions(js: str) -> set[str]:
    """Functions whose first parameter is written as text: `function say(message, kind) {
    result.textContent = message;` (and `lotteryLine(text, ...)`, `button(label, ...)`)."""
    found = set()
    for match in re.finditer(r"function (\w+)\((\w+)[^)]*\) \{\n(.*?)\n  \}\n", js, re.S):
        name, first, body = match.groups()
        if re.search(r"(?:textContent|placeholder)\s*=\s*" + first + r"\b", body):
            found.add(name)
    return found


def shown_literals(js: str) -> list[Literal]:
    """Literals in an expression that ends in a sink: from a sink (or a text function's call)
    to the end of its statement; catalogue keys are fine there."""
    spans = [(m.end(), _statement_end(js, m.end())) for m in SINKS.finditer(js)]
    calls = re.compile(r"(?<![\w.])(?:" + "|".join(sorted(text_functions(js))) + r")\(")
    spans += [(m.end(), _argument_end(js, m.end())) for m in calls.finditer(js)]
    spans += [(start, start + 1) for m in INSERTERS.finditer(js) for start in _arguments(js, m.end())]
    return [lit for lit in literals(js) if any(a <= lit.start < b for a, b in spans)
            and WORDS.search(lit.text) and not KEY.match(lit.text) and not technical(js, lit)]


def _statement_end(js: str, i: int) -> int:
    end = js.find(";", i)
    return len(js) if end < 0 else end


def _arguments(js: str, i: int) -> list[int]:
    """Where each argument of the call whose `(` ends before `i` starts."""
    starts = []
    while i < len(js) and js[i - 1] != ")":
        starts.append(len(js[i:]) - len(js[i:].lstrip()) + i)
        i = _argument_end(js, i) + 1
    return starts


def _argument_end(js: str, i: int) -> int:
    depth = 0
    while i < len(js):
        if js[i] in "([{":
            depth += 1
        elif js[i] in ")]}":
            if depth == 0:
                return i
            depth -= 1
        elif js[i] == "," and depth == 0:
            return i
        i += 1
    return i


def prose(js: str) -> list[Literal]:
    """Literals that read like words for people anywhere in a script: two words, a capital
    letter's word, a sentence's end, or any non-Latin letter."""
    looks = re.compile(r"[A-Za-z]{2,}\S*\s+\S*[A-Za-z]{2,}|^[A-Z][a-z]+|[A-Za-z][.!?…:]$|[^\x00-\x7f]")
    return [lit for lit in literals(js)
            if WORDS.search(lit.text) and not KEY.match(lit.text) and lit.text not in TECHNICAL
            and not technical(js, lit) and looks.search(lit.text.replace("${}", "xx"))]


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: p.name)
def test_a_script_shows_no_words_of_its_own(path: Path) -> None:
    js = path.read_text(encoding="utf-8")
    assert [(lit.line, lit.text) for lit in shown_literals(js)] == []
    assert [(lit.line, lit.text) for lit in prose(js)] == []


def test_the_script_scan_sees_words() -> None:
    sample = '''"use strict";
  function notice(text, kind = "") {
    $("notice").textContent = text;
  }
  function button(label, cls, onClick) {
    const b = document.createElement("button");
    b.textContent = label;
  }
  el.className = "meta muted"; // a class, not a word: "Not this"
  el.textContent = ready ? t("send.title") : "paused";
  el.setAttribute("aria-label", `Select ${text}`);
  notice(`Approved: ${reply.text}`, "ok");
  actions.append(button("Approve", "approve", () => decide(id, /"x"/.test(s))));
  const hello = "你好";
  say(t(`send.mine.${b.status}`));
  if (e.key === "Enter" || verdict === "approve") showVerdict(entry, "gone", params.get("join_text"));
  line.append(" ", "Won", document.createTextNode(`${n} draws`), el.querySelector(".verdict span"));
'''
    assert text_functions(sample) == {"notice", "button"}
    shown = ["Select ${}", "Approved: ${}", "Approve"]
    assert [lit.text for lit in shown_literals(sample)] == ["paused", *shown, "Won", "${} draws"]
    assert [lit.text for lit in prose(sample)] == [*shown, "你好", "Won", "${} draws"]


def test_the_text_functions_are_found_in_the_scripts() -> None:
    """The scan follows the pages' own writers: if these were not found, it would look at less."""
    found = set().union(*(text_functions(path.read_text(encoding="utf-8")) for path in JS_FILES))
    assert {"say", "notice", "button", "lotteryLine", "showStatus"} <= found


# -- the catalogue and its users agree --

def used_keys() -> tuple[set[str], set[str]]:
    """(keys named in full, prefixes of keys built at run time: `send.mine.${status}`)."""
    named: set[str] = set()
    prefixes: set[str] = set()
    for path in HTML_FILES:
        named |= set(TOKEN.findall(path.read_text(encoding="utf-8"))) - {"lang", "i18n"}
    for path in Path(server.__file__).parent.rglob("*.py"):  # the server's own: the default join text
        python = path.read_text(encoding="utf-8")
        named |= set(re.findall(r"text\(\"pages\", [^)]*?\"(" + PAGE + r"\.[\w.]+)\"", python))
    for path in JS_FILES:
        for lit in literals(path.read_text(encoding="utf-8")):
            if KEY.match(lit.text):
                if "${}" in lit.text or lit.text.endswith("."):
                    prefixes.add(lit.text.split("${}")[0])
                else:
                    named.add(lit.text)
    return named, prefixes


def test_every_key_the_pages_name_is_in_the_catalogue() -> None:
    keys = set(catalogue("pages", "en"))
    named, prefixes = used_keys()
    assert named - keys == set()
    assert {p for p in prefixes if not any(key.startswith(p) for key in keys)} == set()


def test_every_key_in_the_catalogue_is_used() -> None:
    named, prefixes = used_keys()
    unused = {key for key in catalogue("pages", "en") if key not in named
              and not any(key.startswith(p) for p in prefixes)}
    assert unused == set()
