"""Where events run: the hosts of a WebSocket's connection and the waits on its events."""
