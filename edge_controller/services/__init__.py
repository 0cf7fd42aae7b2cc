"""Async services: each has ``async def run(self) -> None`` and owns its loop and transient errors."""
