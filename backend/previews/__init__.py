"""Previews over HTTP (issue 4): cache, worker pool, pre-rendering, URLs. The pixels come from
`backend.rendering`; this package adds I/O, access, caching and scheduling around it."""
