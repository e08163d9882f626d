"""Stage 3: the store, one DuckDB file per output folder, replaced atomically.

Every command writes its outputs into a staging folder inside the output
folder, and moves them into place only when it has finished; a run that fails
leaves the previous outputs as they were.
"""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from ..exceptions import InputFileError

DATABASE = "shopseg.duckdb"

# DuckDB would take most of the machine's memory before spilling to disk;
# capped, it spills earlier at about the same speed (SHOPSEG_MEMORY_LIMIT).
MEMORY_LIMIT = "2GB"


#: Numbers in the CSV files written beside the store keep 10 significant
#: digits: every penny of any shop's spend, without the float noise of sums
#: (169.35999999999996 for 169.36). The store and Parquet files keep all.
CSV_FLOAT_FORMAT = "%.10g"


def database_path(out_dir):
    """Return the path of the store inside an output folder."""
    return Path(out_dir) / DATABASE


@contextlib.contextmanager
def staged_outputs(out_dir, from_existing=False):
    """Yield a staging folder whose files replace those of ``out_dir`` on success.

    Parameters
    ----------
    out_dir : str or Path
        The output folder; created if missing.
    from_existing : bool, default=False
        Start the staged store as a copy of the current one, for commands that
        add a stage to an existing store.
    """
    out_dir = Path(out_dir)
    if from_existing and not database_path(out_dir).exists():
        raise InputFileError(
            f"{out_dir}: holds no shopseg store ({DATABASE}); run "
            f"'shopseg run FILE ... --out {out_dir}' first"
        )
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    except OSError as exc:
        raise InputFileError(
            f"{out_dir}: cannot be written ({exc.strerror}); choose another --out"
        ) from None
    try:
        if from_existing:
            shutil.copy2(database_path(out_dir), staging / DATABASE)
        yield staging
        for entry in sorted(staging.iterdir()):
            target = out_dir / entry.name
            if entry.is_dir() and target.exists():
                shutil.rmtree(target)
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a failed first run leaves no empty folder behind


def connect(path, read_only=False):
    """Open a store; for reading, fail clearly if it does not exist."""
    path = Path(path)
    if read_only and not path.exists():
        raise InputFileError(
            f"{path}: no shopseg store here; run 'shopseg run FILE ... --out "
            f"{path.parent}' first"
        )
    config = {"memory_limit": os.environ.get("SHOPSEG_MEMORY_LIMIT", MEMORY_LIMIT)}
    return duckdb.connect(str(path), read_only=read_only, config=config)


def record_run(con, run):
    """Append a run's metadata (inputs, options, versions, stage times)."""
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS runs (
            run_id VARCHAR, command VARCHAR, started_at TIMESTAMP,
            seconds DOUBLE, shopseg_version VARCHAR, options JSON,
            inputs JSON, stages JSON, versions JSON
        )
        """
    )
    con.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run["run_id"],
            run["command"],
            run["started_at"],
            run["seconds"],
            run["shopseg_version"],
            json.dumps(run["options"], default=str),
            json.dumps(run["inputs"], default=str),
            json.dumps(run["stages"], default=str),
            json.dumps(run["versions"], default=str),
        ],
    )


def save_inputs(con, infos):
    """Store one row per input file or sheet: checksum and formats found."""
    import pandas as pd

    frame = pd.DataFrame([info.as_dict() for info in infos])
    frame["columns"] = frame["columns"].map(json.dumps)
    frame["path"] = frame["path"].map(lambda p: Path(p).name)
    con.register("_inputs", frame)
    con.execute("CREATE OR REPLACE TABLE inputs AS SELECT * FROM _inputs")
    con.unregister("_inputs")
