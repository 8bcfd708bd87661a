"""The mission's command API (`mpcs api serve`): FastAPI app factory `create_app(settings)`."""

from .app import create_app

__all__ = ["create_app"]
