"""Notifications in the API: webhooks (admins register them) and the outbox delivery log."""
