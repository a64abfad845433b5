"""The GraphQL API: strawberry on starlette, one package per domain, merged into one schema."""
