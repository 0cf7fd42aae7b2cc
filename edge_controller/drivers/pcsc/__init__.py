"""PC/SC token readers (pyscard): blocking calls run in a worker thread, taps reach asyncio."""
