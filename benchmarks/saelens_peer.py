"""The SAELens side of `benchmarks.synth_sae`, run in SAELens's own venv.

Never imported by sparsekeras or by its tests: `benchmarks/synth_sae.py`
starts it as `<venv>/bin/python benchmarks/saelens_peer.py train <json>`,
and imports `synthetic_model` in that venv to time SAELens's generator.

- `train`: trains SAELens's BatchTopK SAE on the batches read from stdin
  (raw float32, `batch_size x d_in` each, the training batches then the
  evaluation batches), then writes each evaluation batch's codes and
  reconstruction, and the decoder, to an `.npz` for sparsekeras to score.
"""

import json
import sys
import time

import numpy as np
import torch


def synthetic_model(config):
    from sae_lens.synthetic import (
        FoldedNormalMagnitudeConfig,
        HierarchyConfig,
        LinearMagnitudeConfig,
        LowRankCorrelationConfig,
        OrthogonalizationConfig,
        SyntheticModel,
        SyntheticModelConfig,
        ZipfianFiringProbabilityConfig,
    )

    hierarchy = None
    if config["hierarchy_roots"]:
        hierarchy = HierarchyConfig(
            total_root_nodes=config["hierarchy_roots"],
            branching_factor=config["branching"],
            max_depth=config["hierarchy_depth"],
            mutually_exclusive_portion=1.0,
            mutually_exclusive_min_depth=0,
            compensate_probabilities=True,
            scale_children_by_parent=config["scale_children_by_parent"],
        )
    correlation = None
    if config["correlation_rank"]:
        correlation = LowRankCorrelationConfig(
            rank=config["correlation_rank"],
            correlation_scale=config["correlation_scale"],
        )
    return SyntheticModel(
        SyntheticModelConfig(
            num_features=config["num_features"],
            hidden_dim=config["hidden_dim"],
            firing_probability=ZipfianFiringProbabilityConfig(
                exponent=config["exponent"],
                max_prob=config["p_max"],
                min_prob=config["p_min"],
            ),
            hierarchy=hierarchy,
            orthogonalization=OrthogonalizationConfig(
                num_steps=config["orthogonalize_steps"],
                lr=config["orthogonalize_lr"],
            ),
            correlation=correlation,
            mean_firing_magnitudes=LinearMagnitudeConfig(
                *config["mean_magnitude"]
            ),
            std_firing_magnitudes=FoldedNormalMagnitudeConfig(
                *config["std_magnitude"]
            ),
            bias=config["bias"],
            seed=config["seed"],
        )
    )


def _read_batches(count, shape, read):
    size = int(np.prod(shape)) * 4
    for _ in range(count):
        data = bytearray(sys.stdin.buffer.read(size))
        if len(data) != size:
            raise EOFError("the parent sent fewer batches than announced")
        read.append(1)
        yield torch.frombuffer(data, dtype=torch.float32).reshape(shape)


def train(spec):
    from sae_lens import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.set_num_threads(spec.get("threads", 2))
    torch.manual_seed(spec["seed"])
    shape = (spec["batch_size"], spec["d_in"])
    sae = BatchTopKTrainingSAE(
        BatchTopKTrainingSAEConfig(
            d_in=spec["d_in"], d_sae=spec["d_sae"], k=spec["k"]
        )
    )
    samples = spec["steps"] * spec["batch_size"]
    read = []
    # train_toy_sae's trainer settings, with our batches as the data.
    trainer = SAETrainer(
        cfg=SAETrainerConfig(
            total_training_samples=samples,
            train_batch_size_samples=spec["batch_size"],
            lr=spec["lr"],
            lr_end=spec["lr"],
            lr_scheduler_name="constant",
            dead_feature_window=1000,
            feature_sampling_window=2000,
            logger=LoggingConfig(
                log_to_wandb=False, eval_every_n_wandb_logs=2**31 - 1
            ),
            n_batches_for_norm_estimate=1000,
        ),
        sae=sae,
        data_provider=_read_batches(spec["steps"], shape, read),
    )
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    if len(read) != spec["steps"]:
        raise RuntimeError(f"trained on {len(read)} of {spec['steps']} batches")
    sae.eval()
    codes, reconstructions = [], []
    with torch.no_grad():
        for x in _read_batches(spec["eval_batches"], shape, []):
            z = sae.encode(x)
            codes.append(z.numpy())
            reconstructions.append(sae.decode(z).numpy())
    np.savez(
        spec["output"],
        codes=np.concatenate(codes),
        reconstructions=np.concatenate(reconstructions),
        decoder=sae.W_dec.detach().numpy(),
        seconds=seconds,
    )


if __name__ == "__main__":
    {"train": train}[sys.argv[1]](json.loads(sys.argv[2]))
