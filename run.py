"""Run the LEMMA pipeline: `python run.py [group=option ...] [stage=<name>] [-m sweep]`."""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from lemma.cli import main_entry
from lemma.config import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    sweep = hc.job.config_name if str(hc.mode) == "RunMode.MULTIRUN" else None
    return main_entry(cfg, hc.runtime.output_dir, {"overrides": list(hc.overrides.task), "sweep": sweep},
                      exit_fast_on_signal=True)


if __name__ == "__main__":
    main()
