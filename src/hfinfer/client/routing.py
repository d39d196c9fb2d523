"""Which route a client takes, decided once from its arguments and the environment
(the rules are :func:`hfinfer.protocol.routing.decide_route`'s)."""

from __future__ import annotations

from typing import Literal

from ..config import hub_endpoint
from ..config import inference_base as resolve_inference_base
from ..errors import ROUTER_HF_INFERENCE, HFInferenceError
from ..protocol.routing import Route as Target
from ..protocol.routing import decide_route

__all__ = ["Route", "Target", "choose_route", "decide"]

Route = Literal["auto", "router", "openai", "tgi"]


def choose_route(api_base: str | None, router: str, route: str | None = None) -> str:
    """The route a call takes: ``"router"``, ``"openai"``, ``"tgi"``, or ``"auto"``
    when the server at ``api_base`` must be asked which protocol it speaks."""
    return decide(api_base, route, router).name


def decide(api_base: str | None, route: str | None, router: str) -> Target:
    """The route, with where it goes and what it speaks when that is known already."""
    try:
        inference = resolve_inference_base()
    except HFInferenceError:  # a retired HFINFER_API_BASE: refused when it is used
        inference = ROUTER_HF_INFERENCE
    return decide_route(
        api_base, route, router=router, inference_base=inference, trusted=(hub_endpoint(),)
    )
