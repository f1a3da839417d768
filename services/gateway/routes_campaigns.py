"""/v1 routes of the campaigns area (see the issue)."""
from fastapi import APIRouter

router = APIRouter()
