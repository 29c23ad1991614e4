"""Training: a driver (the `train`/`base` stages, in the Hydra process) launches a worker child with an argv list.

DESIGN.md §6: Hydra never runs under a distributed launcher. The driver resolves a `TrainJob`, tokenises the data
once (b7), checks memory (b4) and checkpoints (b1, b2), writes `job.yaml` and starts
`python -m lemma.training.worker job.yaml` (one process) or `torchrun` / `deepspeed` (several). The worker reads only
that file. Modules: job (the resolved job), data (tokens, loss mask, packing, batches), deepspeed_config, preflight,
checkpoints, trainer (HF Trainer glue), worker (the child), launch (the driver side).
"""
