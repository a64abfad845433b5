"""Built-in notification channels, each an ordinary plugin on the outbox worker (docs/plugins.md).

Layering: plugins may use the domain and the core; nothing below imports them.
"""
