"""Project health in the GraphQL API (Project.health, Project.healthHistory)."""
