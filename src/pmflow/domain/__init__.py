"""The customer-project model: entities, services and the guards the default lifecycles use."""
