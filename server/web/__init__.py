"""HTTP: API routes, the SSE stream and the pages. Parse → one core call → render."""
