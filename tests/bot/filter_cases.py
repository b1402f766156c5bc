"""What each mode tells the senders of the same four texts: one table for the Telegram and
Slack tests (tests/bot/*/test_filters.py), which must agree."""

from __future__ import annotations

TEXTS = ["you C.U.N.T", "buy spam", "see www.example.com", "hello"]
TOLD = {  # mode: what each of TEXTS's senders is told, in order
    "off": ["❌ Not approved: blocked word.", "✅", "✅", "✅"],
    "auto": ["❌ Not approved: blocked word.", "⏳ Got it! Your message is held for review",
             "⏳ Got it! Your message is held for review", "✅"],
    "manual": ["❌ Not approved: blocked word.", "⏳ Got it! Your message is waiting",
               "⏳ Got it! Your message is waiting", "⏳ Got it! Your message is waiting"],
}
