"""/v1 routes of the notify area (see the issue)."""
from fastapi import APIRouter

router = APIRouter()
