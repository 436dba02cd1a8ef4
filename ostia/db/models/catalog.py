"""Flavors, availability zones and their provider profiles."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ostia.db.models.base import Base, DescribedMixin, IdMixin


class FlavorProfile(IdMixin, Base):
    __tablename__ = "flavor_profile"
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(Text)


class Flavor(IdMixin, DescribedMixin, Base):
    __tablename__ = "flavor"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(ForeignKey("flavor_profile.id"))


class AvailabilityZoneProfile(IdMixin, Base):
    __tablename__ = "availability_zone_profile"
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(Text)


class AvailabilityZone(DescribedMixin, Base):
    __tablename__ = "availability_zone"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(ForeignKey("availability_zone_profile.id"))
