"""Telegram channel: python-telegram-bot inside our aiohttp process and loop."""
