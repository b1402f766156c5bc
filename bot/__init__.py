"""Chat channels (Telegram, Slack). Adapters: parse → one core call → render."""
