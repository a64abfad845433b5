"""Customers (client organisations), their contacts, and the users who sign in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import EmailStr, Field
from sqlalchemy import func, select

from pmflow.core.errors import InvalidInput
from pmflow.core.types import Actor
from pmflow.domain.services.base import Input, Service, changed, is_id, parse
from pmflow.domain.tables import contacts, customers, users
from pmflow.domain.vocabulary import OrgRole

Name = Field(min_length=1, max_length=200)


class CustomerInput(Input):
    name: str = Name


class CustomerPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class ContactInput(Input):
    name: str = Name
    email: EmailStr
    role: str | None = Field(default=None, max_length=200)
    user_id: int | None = None


class UserInput(Input):
    email: EmailStr
    name: str = Name
    role: OrgRole
    customer_id: int | None = None


class Customers(Service):
    entity = "customer"

    def create(self, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(CustomerInput, data, what="customer")
        now = self.now()
        with self.write() as conn:
            self._unique_name(conn, given.name, None)
            new_id = conn.execute(
                customers.insert().returning(customers.c.id),
                {"name": given.name, "version": 1, "created_at": now, "updated_at": now},
            ).scalar_one()
            self.audit(conn, actor, new_id, {}, given.model_dump(), now)
            return dict(self.row(conn, customers, new_id, "customer")._mapping)

    def update(
        self, actor: Actor, customer_id: int, data: Mapping[str, Any], *, expected_version: int | None = None
    ) -> dict[str, Any]:
        patch = changed(parse(CustomerPatch, data, what="customer"), required=frozenset({"name"}))
        now = self.now()
        with self.write() as conn:
            row = self.row(conn, customers, customer_id, "customer", lock=True)
            if "name" in patch:
                self._unique_name(conn, patch["name"], customer_id)
            self.bump_own_version(conn, customers, row, expected_version, now)
            conn.execute(customers.update().where(customers.c.id == customer_id).values(**patch))
            self.audit(conn, actor, customer_id, row._mapping, patch, now)
            return dict(self.row(conn, customers, customer_id, "customer")._mapping)

    def add_contact(self, actor: Actor, customer_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(ContactInput, data, what="contact")
        now = self.now()
        with self.write() as conn:
            self.row(conn, customers, customer_id, "customer", field="customer_id")
            self._check_contact_user(conn, customer_id, given.user_id)
            duplicate = conn.execute(
                select(contacts.c.id).where(
                    contacts.c.customer_id == customer_id, func.lower(contacts.c.email) == given.email.lower()
                )
            ).first()
            if duplicate is not None:
                raise InvalidInput(
                    f"this customer already has a contact with email {given.email}", field="email"
                )
            values = given.model_dump()
            contact_id = conn.execute(
                contacts.insert().returning(contacts.c.id),
                {**values, "customer_id": customer_id, "version": 1, "created_at": now, "updated_at": now},
            ).scalar_one()
            self.audit(conn, actor, contact_id, {}, values, now, entity="contact")
            return dict(self.row(conn, contacts, contact_id, "contact")._mapping)

    def _check_contact_user(self, conn: Any, customer_id: int, user_id: int | None) -> None:
        if user_id is None:
            return
        user = conn.execute(select(users).where(users.c.id == user_id)).first() if is_id(user_id) else None
        if user is None:
            raise InvalidInput(f"no user with id {user_id}", field="user_id")
        if user.customer_id != customer_id:
            raise InvalidInput("a contact's user account must belong to the same customer", field="user_id")

    def _unique_name(self, conn: Any, name: str, own_id: int | None) -> None:
        other = conn.execute(
            select(customers.c.id).where(func.lower(customers.c.name) == name.lower())
        ).scalar()
        if other is not None and other != own_id:
            raise InvalidInput(f"a customer named '{name}' already exists", field="name")


class Users(Service):
    entity = "user"

    def create(self, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
        given = parse(UserInput, data, what="user")
        if given.role == "customer" and given.customer_id is None:
            raise InvalidInput(
                "a customer user must belong to a customer: give customer_id", field="customer_id"
            )
        if given.role != "customer" and given.customer_id is not None:
            raise InvalidInput("only customer users belong to a customer", field="customer_id")
        now = self.now()
        with self.write() as conn:
            self.exists(conn, customers, given.customer_id, "customer", "customer_id")
            taken = conn.execute(
                select(users.c.id).where(func.lower(users.c.email) == given.email.lower())
            ).first()
            if taken is not None:
                raise InvalidInput(f"a user with email {given.email} already exists", field="email")
            values = given.model_dump()
            user_id = conn.execute(
                users.insert().returning(users.c.id),
                {**values, "active": True, "version": 1, "created_at": now, "updated_at": now},
            ).scalar_one()
            self.audit(conn, actor, user_id, {}, values, now)
            return dict(self.row(conn, users, user_id, "user")._mapping)

    def get(self, user_id: int) -> dict[str, Any]:
        with self.database.read() as conn:
            return dict(self.row(conn, users, user_id, "user")._mapping)
