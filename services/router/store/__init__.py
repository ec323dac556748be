"""The router's SQL: models, row builders, queries, the dialect helper and migrations."""
