from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

def timer(interval: float, eager: bool = False, **kwargs: Any) -> Callable[[_F], _F]: ...
