"""Check the full benchmark data directory (the pools the test suite does not ship).

Usage (repository root): ``python benchmarks/check_data.py [DATA_DIR]`` (default ``../shared/data``, or
``$MALLM_DATA_DIR``). Exits non-zero, naming the problem, when the layout is not the one the benchmarks read.
"""

from __future__ import annotations

import os
import sys

from mallm_gan.benchmark.datasets import dataset_info, list_datasets, load_paper_split, load_pool, paper_sizes


def main(data_dir: str) -> list[str]:
    problems = []
    names = set(list_datasets(data_dir))
    if not names >= {"adult", "magic", "insurance", "asia"}:
        problems.append(f"datasets with a pool: {sorted(names)}; expected adult, magic, insurance, asia")
    if paper_sizes("asia", data_dir) != [25, 50]:
        problems.append(f"asia paper splits: {paper_sizes('asia', data_dir)}, expected [25, 50]")
    if paper_sizes("adult", data_dir) != [25, 50, 100, 200, 400, 800]:
        problems.append(f"adult paper splits: {paper_sizes('adult', data_dir)}")
    train, test = load_paper_split("magic", 25, data_dir)
    if dataset_info("magic", data_dir).target not in train.columns or len(test) != 200:
        problems.append("magic n25: target column missing or test split not 200 rows")
    pool = load_pool("adult", data_dir)
    if "fnlwgt" in pool.columns or not pool.notna().all().all():
        problems.append("adult pool: fnlwgt kept or missing values left")
    return problems


if __name__ == "__main__":
    found = main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MALLM_DATA_DIR", "../shared/data"))
    print("\n".join(found) or "data directory ok")
    sys.exit(1 if found else 0)
