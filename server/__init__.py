"""barrage server: core, store, bus, HTTP app and CLI."""
