"""The archive service's client, as users name it: ``jwstnb.connect("https://...",
token=...)`` returns its :class:`RemoteSession`; it lives with the session's other transport
(:mod:`jwstnb.session.remote`)."""

from __future__ import annotations

from jwstnb.session.remote import (
    CA_ENV,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    URL_ENV,
    RemoteSession,
    RemoteStorage,
    connect_service,
    default_token_file,
    read_token_file,
    service_url,
)

__all__ = [
    "CA_ENV",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "URL_ENV",
    "RemoteSession",
    "RemoteStorage",
    "connect_service",
    "default_token_file",
    "read_token_file",
    "service_url",
]
