"""``python -m fanfare_admin_api``: serve the admin API with uvicorn."""

from __future__ import annotations

from fanfare_admin_api.app import create_app
from fanfare_core.http.serve import serve


def main() -> None:
    serve("admin-api", create_app, default_port=8081)


if __name__ == "__main__":
    main()
