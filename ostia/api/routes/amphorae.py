"""Routes of this resource (to be filled in)."""

from fastapi import APIRouter

router = APIRouter()
