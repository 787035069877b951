"""The sale-day control room: one staff-only admin page (live numbers per campaign and sale,
the stores, alerts, last errors, small charts) and the confirmed, logged operator actions.

Apps feed it through `registry` (panels of rows and actions, registered in AppConfig.ready),
so the kernel never reads another app's models or Redis keys. The page's JSON is a snapshot
built at most once per `CONTROLROOM_REFRESH_SECONDS` by whichever request finds it old and
shared through Redis: a hundred admins refreshing cost the database what one does.
"""
