"""Sessions in Redis with the database behind them, surviving a Redis outage.

Django's cached_db backend already falls back to the DB when a cache read fails, but it writes
the session back to the cache, checks existence and deletes without catching cache errors: with
Redis down every session request that touches `request.user` would be a 500. Here every cache
operation is best effort; the database stays the source of truth.
"""

import logging

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDbSessionStore

logger = logging.getLogger(__name__)


class SessionStore(CachedDbSessionStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # noqa: BLE001 - cache down or bad key: the DB answers
            data = None
        if data is not None:
            return data
        s = self._get_session_from_db()
        if not s:
            return {}
        data = self.decode(s.session_data)
        try:
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=s.expire_date))
        except Exception:  # noqa: BLE001  any cache failure: the database copy still serves the session
            logger.warning("session not re-cached: cache unavailable")
        return data

    def exists(self, session_key):
        try:
            if session_key and (self.cache_key_prefix + session_key) in self._cache:
                return True
        except Exception:  # noqa: BLE001, S110 - the database answers below
            pass
        return super(CachedDbSessionStore, self).exists(session_key)

    def delete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception:  # noqa: BLE001  any cache failure: the database row is deleted anyway
            logger.warning("session not dropped from the cache: cache unavailable")
        super(CachedDbSessionStore, self).delete(session_key)
