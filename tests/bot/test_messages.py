from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import bot
from bot.messages import (
    age,
    backlog_line,
    flags_line,
    outcome_text,
    receipt_text,
    senders_line,
    sentence,
    split_color,
    verdict_line,
    why,
)
from server.core.errors import AlreadyDecided, BarrageError, Muted, SlowMode, Unavailable
from server.core.i18n import catalogue
from server.core.model import Barrage, Size, Source, Status
from server.core.policy import InputPolicy, RatePolicy
from server.core.rooms import check_announcement
from server.core.rules import RuleSpec, check_rule

NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#ff8800 hi there", ("#ff8800", "hi there")),
        ("#F80 hi", ("#ff8800", "hi")),
        ("#pink hi", ("pink", "hi")),
        ("Pink hi", ("pink", "hi")),
        ("pink", (None, "pink")),
        ("#party tonight", (None, "#party tonight")),
        ("hello #ff0000", (None, "hello #ff0000")),
    ],
)
def test_split_color(text: str, expected: tuple[str | None, str]) -> None:
    assert split_color(text) == expected


def test_age() -> None:
    assert age(NOW, NOW) == "just now"
    assert age(NOW - timedelta(minutes=3), NOW) == "3 min ago"


def test_backlog_line_only_when_behind() -> None:
    assert backlog_line(4, "/moderate") is None
    assert backlog_line(5, "/moderate") == "⏳ 5 more waiting — use /moderate"


def test_sentence_keeps_names() -> None:
    assert sentence("already approved by Mod One") == "Already approved by Mod One"


# -- every text from the catalogue, in the reader's language --

def _scan_hits(source: str) -> list[str]:
    """String literals that read like words for people (a letter, and a space or a non-ASCII
    character, or an English catalogue text such as "Approve"), outside docstrings, log calls,
    raised exceptions and the WHY table (the core's English words, matched, never shown)."""
    english = {v for v in catalogue("chat", "en").values() if v[:1].isupper() or not v[:1].isascii()}
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))  # a docstring
        logged = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id in ("logger", "logging"))
        table = isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "WHY" for t in node.targets)
        if logged or table or isinstance(node, ast.Raise):
            skip.update(id(inner) for inner in ast.walk(node))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
            and node.value not in ALLOWED and any(c.isalpha() for c in node.value)
            and (any(c.isspace() or not c.isascii() for c in node.value) or node.value in english)]


# Not read by people: outbox labels and the update summaries go to logs; the last is Telegram's error.
ALLOWED = {"message to ", "ephemeral to ", "reply to ", "update ", "message is not modified"}


def test_no_text_people_read_is_hard_coded_in_bot() -> None:
    root = Path(bot.__file__).parent
    hits = {str(path.relative_to(root)): found for path in sorted(root.rglob("*.py"))
            if (found := _scan_hits(path.read_text(encoding="utf-8")))}
    assert hits == {}, "move these into server/core/locales/<language>/chat.json"


def test_the_scan_finds_a_hard_coded_reply_and_label() -> None:
    source = ('def reply(send):\n    """Docs are fine."""\n    logger.info("logs are fine %s", 1)\n'
              '    send("Thanks for your message")\n'
              '    return {"text": "Approve"}, "⌛ 过期", "plain_text"\n')
    assert sorted(_scan_hits(source)) == ["Approve", "Thanks for your message", "⌛ 过期"]


def test_every_key_bot_uses_is_in_the_catalogue() -> None:
    used = set()
    for path in Path(bot.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.fullmatch(node.value):
                used.add(node.value)
    keys = set(catalogue("chat", "en"))
    # Keys built from a prefix ("reply.pending" + "_no_screen", "outcome." + a status) are checked
    # by the tests that render them; plain ones must exist.
    assert {k for k in used if "." in k and not k.endswith(".")} - keys - {"server.core"} == set()


KEY = re.compile(r"[a-z_]+(\.[a-z_]+)+\.?")


def _said(error: Exception) -> tuple[str, str]:
    return why(str(error), "en"), why(str(error), "zh-CN")


def _raised(call: Callable[[], object]) -> Exception:
    with pytest.raises(BarrageError) as caught:
        call()
    return caught.value


def test_the_cores_words_are_said_in_each_language() -> None:
    """Raised by the real core: a change of its wording that the WHY table misses fails here."""
    policy = InputPolicy(max_text_length=5)
    cases = {
        SlowMode(2.2): "慢速模式已开启，请等 3 秒后再发",
        Muted(datetime(2026, 12, 31, 20, 0, tzinfo=UTC)): "你已被禁言至 2026-12-31 20:00（UTC）",
        Muted(None): "你已被禁言，需审核员解除",
        Unavailable(): "弹幕墙暂时无法保存消息（数据库已满或不可用），请过一分钟再试",
        AlreadyDecided("approved", "Wang"): "已通过（Wang）",
        RatePolicy(per_sender=20).refusal(0, 4.5, [("sender:x", 20)]):
            "发得太快了：每分钟最多 20 条，请 5 秒后再试",
        _raised(lambda: policy.text("123456")): "内容太长了（最多 5 个字）",
        _raised(lambda: policy.text("   ")): "内容为空",
        _raised(lambda: check_announcement("x" * 300)):
            "公告最多 200 个可打印字符（只写命令不带内容即可移除公告）",
        _raised(lambda: check_rule(RuleSpec("!!!"))):
            "屏蔽词里没有可匹配的文字或数字（规则只匹配文字和数字）",
    }
    for error, chinese in cases.items():
        assert _said(error) == (str(error), chinese)
    assert why("blocked word", "zh-CN") == "含有屏蔽词" and why("a moderator's own words", "zh-CN") == (
        "a moderator's own words")  # a reason the catalogue does not know: as written


def test_cards_and_replies_in_chinese() -> None:
    barrage = Barrage(id=7, text="新年好", author="Li", color="#ffffff", size=Size.MEDIUM,
                      source=Source.WEB,
                      status=Status.PENDING, created_at=NOW - timedelta(minutes=3), flags=("link", "rule:12"),
                      count=3)
    assert age(barrage.created_at, NOW, "zh-CN") == "3 分钟前"
    assert flags_line(barrage.flags, "zh-CN") == "⚠ 链接 · ⚠ 规则 12"
    assert senders_line(barrage, "zh-CN") == "×3 人发送"
    assert receipt_text(Status.REJECTED, 1, "blocked word", "zh-CN") == "❌ 未通过：含有屏蔽词。"
    assert receipt_text(Status.APPROVED, 1, None, "zh-CN") == "✅ 你的弹幕已上墙！"
    expired = replace(barrage, status=Status.EXPIRED)
    assert verdict_line(expired, "zh-CN") == "⌛ 已过期" and verdict_line(expired) == "⌛ Expired"
    decided = replace(barrage, status=Status.REJECTED, decided_by="Wang")
    assert verdict_line(decided, "zh-CN") == "❌ Wang 已拒绝"
    assert outcome_text(decided, "zh-CN") == "❌ 你的弹幕未通过审核：“新年好”"


@pytest.mark.parametrize("detail", [
    "3 winners asked for, but only 2 senders are in the draw",
    "winners must be a whole number from 1 to 100",
    "already sent: you sent the same message less than 30 s ago",
    "the wall is very busy; try again in a moment",
    "too many messages from your network right now; try again in 4 s", "already rejected", "held for review",
    "not on the screens: it is rejected by Bob", "text is too long (at most 400 Unicode code points)",
])
def test_english_says_the_cores_words_as_they_were_and_chinese_its_own(detail: str) -> None:
    assert why(detail, "en") == detail
    assert why(detail, "zh-CN") != detail and not any("a" <= c <= "z" for c in why(detail, "zh-CN").replace(
        "Unicode", "").replace("Bob", ""))
