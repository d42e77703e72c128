"""One module per scenario; each exposes ``async def run(stack, size) -> list[Result]``."""
