"""Slack channel: slack-bolt's AsyncApp inside our aiohttp process and loop."""
