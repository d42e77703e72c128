"""``python -m fanfare_consumer_api``: serve the consumer API with uvicorn."""

from __future__ import annotations

from fanfare_consumer_api.app import create_app
from fanfare_core.http.serve import serve


def main() -> None:
    serve("consumer-api", create_app, default_port=8080)


if __name__ == "__main__":
    main()
