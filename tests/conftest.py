"""Shared fixtures: real servers live in tests/servers.py, session/storage helpers below."""

from tests.fixtures_browser import browser, browser_page, jupyter_server  # noqa: F401
from tests.fixtures_session import admin_session, make_session  # noqa: F401
from tests.fixtures_storage import fits_bytes, local_storage, s3_storage, storage  # noqa: F401
from tests.servers import db_name, mongo_uri, s3_bucket, s3_endpoint  # noqa: F401
