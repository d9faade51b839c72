"""The Service Map source: the ARM Service Map API (``2015-11-01-preview``), retired by Microsoft
on 30 June 2028. The only package that knows a map is Service Map JSON: :mod:`.client` speaks the
API, :mod:`.parse` (with :mod:`.nodes`, :mod:`.refs`, :mod:`.json_fields`) turns its JSON into
the model, :mod:`.session` signs in and opens the transport, :mod:`.source` is the
:class:`~servicemap_sync.sources.base.Source` the service calls."""

from .client import API_VERSION, ServiceMapClient
from .session import Session, open_session
from .source import ServiceMapSource

__all__ = ["API_VERSION", "ServiceMapClient", "ServiceMapSource", "Session", "open_session"]
