"""Serving (``python -m jazz_solo serve``): the exported bundle as an engine with streaming
sessions, over MCP (stdio or HTTP) or live MIDI ports."""
