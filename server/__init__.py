"""The FastAPI service: the kiosk and payment pages, the customer API, the admin and staff consoles.

``app`` builds it; ``deps`` (application state), ``login`` (who is calling), ``pages``
(the one template environment), ``errors`` (answers in Chinese), ``auth`` (log in and
out), ``admin`` and ``routes`` (one router per area).
"""
