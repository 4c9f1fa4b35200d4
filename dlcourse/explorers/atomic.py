"""All-or-nothing settings for the explorers' ``set(**params)``."""

from __future__ import annotations

import functools


def all_or_nothing(set_method):
    """Decorate an explorer's ``set``: when any value is rejected (ValueError), every attribute gets back the
    value it had before the call, so a widget never shows half of a change."""

    @functools.wraps(set_method)
    def set_all(self, **params):
        saved = dict(vars(self))
        try:
            return set_method(self, **params)
        except Exception:
            vars(self).clear()
            vars(self).update(saved)
            raise

    return set_all
