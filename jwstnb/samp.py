"""Send tables, images and positions to TOPCAT, Aladin, DS9 and other SAMP applications.

    import jwstnb.samp
    jwstnb.samp.hub_running()                      # TOPCAT or Aladin started one?
    jwstnb.samp.send_table(page.to_table(schema="obscore"))
    jwstnb.samp.send_image("mast/.../..._i2d.fits", storage)
    jwstnb.samp.send_position("151.757 -40.436")
    jwstnb.samp.on_rows(lambda table_id, rows: print(table_id, rows))

See :mod:`jwstnb.interop.samp` for how files travel and how highlighted rows come back.
"""

from __future__ import annotations

from jwstnb.interop.samp import (
    SampConnection,
    SampError,
    clients,
    default,
    disconnect,
    hub_running,
    on_rows,
    send_image,
    send_position,
    send_table,
)

__all__ = [
    "SampConnection",
    "SampError",
    "clients",
    "default",
    "disconnect",
    "hub_running",
    "on_rows",
    "send_image",
    "send_position",
    "send_table",
]
