"""Admin: edit the FAQ intents live, try phrases, import/export YAML, read the audit trail.

Every change is checked (``knowledge_base.intent_schema``: id pattern, at least 3
examples, answer templates that only name fields the assistant can fill, as plain
``{field}``, no example shared with another intent), saved only if nobody saved in
between (the form carries the version; a stale one gets 409), audited with the record
before and after, and then the knowledge version moves, so every worker answers with
the new text on the very next question.

- ``schemas``: the API's bodies; ``records``: reading, writing and auditing intents;
  ``yaml_files``: export and import; ``routes``: the pages under /admin and the API
  under /api/admin (role admin).
"""
