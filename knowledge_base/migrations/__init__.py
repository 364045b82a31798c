"""Alembic migrations of 小电's database (the environment lives in this package so it installs with it).

Applied by ``knowledge_base.db.migrate`` (which ``seed_database``, ``xiaodian db init`` and
``xiaodian db upgrade`` call). Developers run Alembic's other commands through
``python -m knowledge_base.migrations`` (see ``__main__``).
"""
