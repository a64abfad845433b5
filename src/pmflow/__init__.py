"""pmflow: customer-centric projects as explicit, auditable lifecycles.

Plugin authors need only this module::

    from pmflow import hookimpl, Condition, Action
"""

from __future__ import annotations

from pmflow.core.hookspecs import hookimpl
from pmflow.core.types import Action, Actor, Condition, TransitionContext

__version__ = "0.1.0"

__all__ = ["Action", "Actor", "Condition", "TransitionContext", "__version__", "hookimpl"]
