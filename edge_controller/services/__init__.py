"""Async services: each has ``async def run(self) -> None``; each owns its loop and its
transient errors."""
