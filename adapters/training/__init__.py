"""Training a domain's adapter and turning it into served files: data, RAFT prompts, LoRA/QLoRA, GGUF export and
its check. Serving never imports this package: the registry, the GGUF files and the base model live one level up."""
