"""The pages: plain HTML/CSS/JS, no build step. A package only so the wheel carries them
(package data); server/web/pages.py finds them through it, installed or in a checkout."""
