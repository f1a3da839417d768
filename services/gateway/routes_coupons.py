"""/v1 routes of the coupons area (see the issue)."""
from fastapi import APIRouter

router = APIRouter()
