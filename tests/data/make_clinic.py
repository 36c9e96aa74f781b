"""Write tests/data/clinic.csv: a small synthetic clinical table whose rows obey rules across columns.

Seeded, so rerunning it writes the same file: ``python tests/data/make_clinic.py``. The rules it obeys (the
constraint tests use them):

- ``discharge_date >= admission_date`` and ``discharge_date - admission_date <= 30`` (dates)
- ``age_at_diagnosis <= age`` (a comparison between columns)
- ``smoker != "yes" -> cigarettes_per_day == 0`` (an implication)
- ``dose_mg <= 10 * weight_kg`` (a linear bound)
- ``(sex, pregnant) in training`` (allowed combinations: no pregnant men)
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 60
SEED = 20


def make_clinic(rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(rows):
        sex = str(rng.choice(["female", "male"]))
        age = int(rng.integers(18, 86))
        pregnant = "yes" if sex == "female" and age < 42 and rng.random() < 0.3 else "no"
        smoker = str(rng.choice(["yes", "no", "former"], p=[0.3, 0.5, 0.2]))
        cigarettes = int(rng.integers(2, 31)) if smoker == "yes" else 0
        diagnosis = int(age - rng.integers(0, min(age - 10, 25)))
        admitted = date(2023, 1, 1) + timedelta(days=int(rng.integers(0, 365)))
        discharged = admitted + timedelta(days=int(rng.integers(0, 15)))
        weight = round(float(rng.normal(75 if sex == "male" else 64, 11)), 1)
        arm = str(rng.choice(["A", "B"]))
        dose = int(min(10 * weight, rng.normal(400 if arm == "A" else 550, 90)))
        outcome = "recovered" if rng.random() < 0.75 - 0.004 * (age - 50) else "readmitted"
        records.append({
            "age": age, "sex": sex, "pregnant": pregnant, "smoker": smoker, "cigarettes_per_day": cigarettes,
            "age_at_diagnosis": diagnosis, "admission_date": admitted.isoformat(),
            "discharge_date": discharged.isoformat(), "weight_kg": weight, "arm": arm, "dose_mg": dose,
            "outcome": outcome,
        })
    return pd.DataFrame(records)


if __name__ == "__main__":
    make_clinic().to_csv(Path(__file__).with_name("clinic.csv"), index=False)
