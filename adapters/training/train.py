"""Train a domain's LoRA adapter with the transformers Trainer and register it.

QLoRA on CUDA (4-bit NF4 base with double quantisation, paged AdamW), plain
LoRA on a fp32 base elsewhere: ``adapters.base_model.training_plan`` is the one
place that differs, everything else is the same code on both. Only the attention and MLP
projections are trained, so every adapter can be exported to llama.cpp.

The loss covers answer tokens only, and only their logits are computed:
with Gemma's 262k-token vocabulary the LM head over the whole prompt would
cost more than the rest of the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.base_model import (
    BaseCheckpoint,
    TrainingPlan,
    load_causal_lm,
    load_options,
    resolve_base_model,
    training_plan,
)
from adapters.prompt_tokens import example_ids
from adapters.registry import TRAINING_QUESTIONS_FILE, AdapterCard, AdapterVersion, DatasetInfo, Registry
from adapters.training.dataset import TrainingSet
from adapters.training.raft import RaftExample, Retriever, assemble
from assistant.core.config import Settings, TrainingSettings
from assistant.core.errors import TRAIN_MODULES, UserError, require_extra

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

IGNORE = -100  # label of a token the loss skips


@dataclass(frozen=True)
class Progress:
    """One report from training, for a progress display."""

    step: int
    total_steps: int
    loss: float | None = None
    held_out_loss: float | None = None


ProgressCallback = Callable[[Progress], None]


def train_adapter(
    settings: Settings,
    domain: str,
    data: TrainingSet,
    data_path: Path,
    retrieve: Retriever,
    *,
    activate: bool = True,
    on_progress: ProgressCallback | None = None,
    on_notice: Callable[[str], None] = print,
) -> AdapterVersion:
    """Assemble RAFT examples, train (resuming an interrupted run of the same job), register the adapter."""
    require_extra("train", TRAIN_MODULES, "training an adapter")
    import torch

    config = settings.training
    if not config.refusal_examples:
        data = data.without_refusals()
    base = resolve_base_model(settings, on_notice)
    plan = training_plan(torch.cuda.is_available(), config.cpu_bf16)
    on_notice(f"training {domain} adapter: {plan.method} on {base.identity.name}, {data.size} examples")
    tokenizer = _load_tokenizer(base.path)

    def features(examples: Sequence[Any]) -> list[dict[str, list[int]]]:
        def count(example: RaftExample) -> int:
            return len(tokenize(example, tokenizer)["input_ids"])

        return [
            tokenize(
                assemble(
                    e,
                    retrieve,
                    passages=settings.retrieval.k,
                    max_tokens=config.max_seq_tokens,
                    count_tokens=count,
                ),
                tokenizer,
            )
            for e in examples
        ]

    train_set, held_out_set = features(data.train), features(data.held_out)
    registry = Registry(settings.adapters_dir)
    run_dir = settings.adapters_dir / domain / "runs" / _run_id(base, data, config)
    started = time.perf_counter()
    trainer = _build_trainer(base, plan, config, tokenizer, train_set, held_out_set, run_dir, on_progress)
    resume = any(run_dir.glob("checkpoint-*"))
    if resume:
        on_notice(f"resuming the interrupted run in {run_dir}")
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    # The Trainer evaluated the last step and reloaded the best checkpoint; its loss is best_metric.
    best = trainer.state.best_metric
    held_out_loss = float(best if best is not None else trainer.evaluate()["eval_loss"])
    built = registry.new_build_dir(domain)
    trainer.model.save_pretrained(built)
    (built / "README.md").unlink(missing_ok=True)  # peft's empty model-card template; card.json is ours
    questions = [example.question for example in (*data.train, *data.held_out)]
    (built / TRAINING_QUESTIONS_FILE).write_text(json.dumps(questions, ensure_ascii=False, indent=0))
    card = AdapterCard(
        domain=domain,
        created_at=datetime.now(UTC),
        method=plan.method,
        base=base.identity,
        dataset=DatasetInfo(
            path=str(data_path),
            sha256=data.sha256,
            examples=data.size,
            train=len(data.train),
            held_out=len(data.held_out),
        ),
        hyperparameters=config.model_dump(mode="json", exclude={"base_model"}),
        train_loss=float(result.training_loss),
        held_out_loss=held_out_loss,
        steps=trainer.state.global_step,
        stopped_early=trainer.state.global_step < trainer.state.max_steps,
        seconds=round(time.perf_counter() - started, 1),
        hardware=_hardware(plan),
    )
    adapter = registry.register(built, card, activate=activate)
    shutil.rmtree(run_dir, ignore_errors=True)
    return adapter


def tokenize(example: RaftExample, tokenizer: PreTrainedTokenizerBase) -> dict[str, list[int]]:
    """Prompt tokens, rendered as every backend serves them, are context; the answer's tokens and the end of
    its turn are the labels."""
    prompt, answer = example_ids(tokenizer, example.prompt, example.answer)
    return {"input_ids": prompt + answer, "labels": [IGNORE] * len(prompt) + answer}


def collate(batch: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left padding: every answer ends at the last position, so one slice of logits covers the batch."""
    import torch

    width = max(len(item["input_ids"]) for item in batch)
    columns: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "attention_mask": [], "position_ids": []}
    for item in batch:
        pad = width - len(item["input_ids"])
        columns["input_ids"].append([pad_id] * pad + item["input_ids"])
        columns["labels"].append([IGNORE] * pad + item["labels"])
        columns["attention_mask"].append([0] * pad + [1] * len(item["input_ids"]))
        columns["position_ids"].append([0] * pad + list(range(len(item["input_ids"]))))
    return {name: torch.tensor(rows) for name, rows in columns.items()}


def answer_loss(model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over answer tokens, computing logits only from the first answer position on."""
    import torch.nn.functional as F

    labels = inputs["labels"]
    first = int((labels != IGNORE).any(dim=0).nonzero()[0])  # earliest answer token in the batch
    keep = labels.shape[1] - first + 1  # logits at position t predict token t + 1
    model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
    logits = model(**model_inputs, logits_to_keep=keep).logits[:, :-1]
    return F.cross_entropy(logits.flatten(0, 1).float(), labels[:, first:].flatten(), ignore_index=IGNORE)


def _build_trainer(
    base: BaseCheckpoint,
    plan: TrainingPlan,
    config: TrainingSettings,
    tokenizer: PreTrainedTokenizerBase,
    train_set: list[dict[str, list[int]]],
    held_out_set: list[dict[str, list[int]]],
    run_dir: Path,
    on_progress: ProgressCallback | None,
) -> Any:
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments

    class AnswerOnlyTrainer(Trainer):
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            loss = answer_loss(model, inputs)
            return (loss, {"loss": loss}) if return_outputs else loss

    args = TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        optim=plan.optimizer,
        bf16=plan.bf16,
        use_cpu=plan.device == "cpu",
        eval_strategy="steps",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=1,
        prediction_loss_only=True,
        report_to="none",
        disable_tqdm=True,
        seed=config.seed,
        data_seed=config.seed,
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=0,
    )
    trainer = AnswerOnlyTrainer(
        model=_lora_model(base, plan, config),
        args=args,
        data_collator=lambda batch: collate(batch, tokenizer.pad_token_id),
        train_dataset=train_set,  # a list is a map-style dataset
        eval_dataset=held_out_set,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.patience)],
    )
    # answer_loss is a mean per micro-batch: let the Trainer average over accumulation steps.
    trainer.model_accepts_loss_kwargs = False
    trainer.remove_callback(PrinterCallback)  # it prints raw dicts on stdout, which --json owns
    if on_progress is not None:
        trainer.add_callback(_progress_callback(on_progress))
    return trainer


def _lora_model(base: BaseCheckpoint, plan: TrainingPlan, config: TrainingSettings) -> Any:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import set_seed

    set_seed(config.seed)  # LoRA's A matrices are initialised here, before the Trainer seeds anything

    base_model = load_causal_lm(base.path, **load_options(plan))  # CPU bf16 is autocast only: an fp32 base
    if plan.quantization is not None:
        base_model = prepare_model_for_kbit_training(base_model, use_gradient_checkpointing=True)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base_model, lora)
    servable_only(model)
    return model


def servable_only(model: Any) -> None:
    """Refuse anything but LoRA matrices being trained: llama.cpp and vLLM can't serve the rest."""
    trained = [name for name, p in model.named_parameters() if p.requires_grad and ".lora_" not in name]
    if trained:
        raise UserError(f"only LoRA matrices may be trained, but these are trainable too: {trained[:3]}")


def _load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _run_id(base: BaseCheckpoint, data: TrainingSet, config: TrainingSettings) -> str:
    """The same job (base, data, hyperparameters) maps to the same run folder, so a rerun resumes it."""
    job = json.dumps([base.identity.weights_sha256, data.sha256, config.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(job.encode()).hexdigest()[:16]


def _progress_callback(on_progress: ProgressCallback) -> Any:
    from transformers import TrainerCallback

    class Report(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **_: Any) -> None:
            logs = logs or {}
            on_progress(Progress(state.global_step, state.max_steps, logs.get("loss"), logs.get("eval_loss")))

    return Report()


def _hardware(plan: TrainingPlan) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "device": plan.device,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
    }
    if plan.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
