"""Model names of the text-generation route: defaults, a fallback list, aliases.

The short aliases are the ones code written for gpt4free passes (``"flux"``,
``"llama-3.3-70b"``), so ported code keeps working.
"""

from __future__ import annotations

DEFAULT_MODEL = "Qwen/Qwen2.5-72B-Instruct"
DEFAULT_IMAGE_MODEL = "black-forest-labs/FLUX.1-dev"

FALLBACK_IMAGE_MODELS = [
    DEFAULT_IMAGE_MODEL,
    "black-forest-labs/FLUX.1-schnell",
    "stabilityai/stable-diffusion-xl-base-1.0",
]

FALLBACK_TEXT_MODELS = [
    DEFAULT_MODEL,
    "meta-llama/Llama-3.3-70B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    "Qwen/QwQ-32B",
    "Qwen/Qwen2.5-Coder-32B-Instruct",
    "mistralai/Mistral-Nemo-Instruct-2407",
    "microsoft/Phi-3.5-mini-instruct",
    "HuggingFaceH4/zephyr-7b-beta",
]

MODEL_ALIASES = {
    # chat
    "qwen-2.5-72b": "Qwen/Qwen2.5-72B-Instruct",
    "qwen-2.5-coder-32b": "Qwen/Qwen2.5-Coder-32B-Instruct",
    "qwq-32b": "Qwen/QwQ-32B",
    "llama-3.3-70b": "meta-llama/Llama-3.3-70B-Instruct",
    "llama-3.1-8b": "meta-llama/Llama-3.1-8B-Instruct",
    "deepseek-r1": "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    "mistral-nemo": "mistralai/Mistral-Nemo-Instruct-2407",
    "phi-3.5-mini": "microsoft/Phi-3.5-mini-instruct",
    "zephyr-7b": "HuggingFaceH4/zephyr-7b-beta",
    # images
    "flux": "black-forest-labs/FLUX.1-dev",
    "flux-dev": "black-forest-labs/FLUX.1-dev",
    "flux-schnell": "black-forest-labs/FLUX.1-schnell",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "sd-3.5": "stabilityai/stable-diffusion-3.5-large",
    # The seed's own example names a repo that does not exist under this id.
    "stabilityai/stable-diffusion-xl": "stabilityai/stable-diffusion-xl-base-1.0",
}
