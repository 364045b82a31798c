"""The knowledge base: SQLModel tables, seed data (YAML), tariff maths, queries."""
