"""Alembic's migrations, shipped in the package so `barrage db upgrade` works from any
directory and from an installed wheel. server/store/schema.py runs them."""
