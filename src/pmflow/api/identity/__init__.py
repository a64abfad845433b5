"""Sign-in: API tokens (one's own; admins: anyone's) and the admin's management of user accounts."""
