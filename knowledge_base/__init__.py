"""The knowledge base: SQLModel tables, migrations, seed data (YAML) and its checks, answer templates, tariff maths, queries."""
