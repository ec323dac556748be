"""The router's database: models, engine, repository helpers."""
