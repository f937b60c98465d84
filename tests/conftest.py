"""Shared fixtures: real servers live in tests/servers.py, session/storage helpers below."""

from tests.fixtures_browser import browser, browser_page, jupyter_server  # noqa: F401
from tests.fixtures_session import admin_session, make_session  # noqa: F401
from tests.fixtures_storage import fits_bytes, local_storage, s3_storage, storage  # noqa: F401
from tests.servers import auth_server, db_name, mongo_uri, s3_bucket, s3_endpoint  # noqa: F401


def pytest_collection_modifyitems(config: object, items: list) -> None:
    """Run the browser tests last.

    Playwright's sync API keeps an asyncio loop running in the main thread while it is open,
    which breaks any later test that wants its own loop (pytest-jupyter's fixtures, nbval's
    kernels). Last, they can share one browser and nothing runs after them.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
