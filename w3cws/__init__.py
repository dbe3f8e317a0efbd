"""w3cws: the browser's WebSocket, in Python (package facade; filled in at integration)."""
