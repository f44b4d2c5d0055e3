"""Per-domain LoRA adapters: training data, training, registry, GGUF export and its check."""

import warnings

# peft calls a transformers property that transformers 5 deprecates; the warning is theirs, not the user's.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
