"""Start (or join) the Spark session that runs shopseg's SQL on Spark."""

import os
import shutil
import warnings
from pathlib import Path

from ..exceptions import EngineError

#: Settings that make Spark SQL compute what DuckDB computes: timestamps
#: without a time zone, read and shown in UTC; NULL rather than an error for
#: an impossible cast or division; Java's charsets, cp1252 among them, for
#: reading CSV (Spark 4 otherwise knows only UTF and Latin-1 ones); Parquet
#: timestamps in nanoseconds read as numbers (Spark refuses them otherwise),
#: which the reader turns into timestamps. Constraint propagation is off:
#: Spark 4 fails to plan a union of local checkpoints with it (tables that
#: grow by INSERT are such unions), and it only slows down planning here.
SQL_CONFIG = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.legacy.javaCharsets": "true",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.constraintPropagation.enabled": "false",
}

#: Those, and no progress bar on the terminal.
SPARK_CONFIG = {**SQL_CONFIG, "spark.ui.showConsoleProgress": "false"}

_INSTALL = "install it with pip install 'shopseg[spark]'"

#: Spark's logging setup for a driver started here: errors only.
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def start_spark(master=None, config=None):
    """Return a Spark session, starting one if none is active.

    Parameters
    ----------
    master : str, default=None
        Spark master URL, e.g. ``"spark://host:7077"`` or ``"local[4]"``;
        when None, Spark's own default (``spark-submit --master``, else
        ``local[*]``).
    config : dict, default=None
        More Spark settings, e.g. ``{"spark.sql.shuffle.partitions": "8"}``.

    Returns
    -------
    (pyspark.sql.SparkSession, bool)
        The session, and whether it was started here (and so is to be
        stopped by the caller). An active session is used as it is, with
        the settings of :data:`SQL_CONFIG`.

    Raises
    ------
    EngineError
        When PySpark is not installed, Java is missing, or the master cannot
        be reached; the message says which and how to fix it.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(
            f"--engine spark needs PySpark, which is not installed; {_INSTALL} "
            "(Spark also needs Java 17 or later)"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        # A session started elsewhere (a notebook, a test) gets the settings
        # the SQL relies on; a master given here cannot change its master.
        for key, value in SQL_CONFIG.items():
            active.conf.set(key, value)
        return active, False
    _check_java()

    builder = SparkSession.builder.appName("shopseg")
    if master:
        builder = builder.master(master)
    quiet = {
        "spark.driver.extraJavaOptions":
            f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}"
    }
    for key, value in {**SPARK_CONFIG, **quiet, **(config or {})}.items():
        builder = builder.config(key, value)
    where = master or "the default master"
    try:
        with warnings.catch_warnings():
            # PySpark warns about pandas 3 as it starts; shopseg hands data to
            # and from Spark through Arrow, not pandas.
            warnings.filterwarnings(
                "ignore", "PySpark does not yet fully support pandas", FutureWarning
            )
            session = builder.getOrCreate()
        session.sparkContext.setLogLevel("FATAL")
        # A master that is not there fails here rather than mid-run.
        session.range(1).count()
    except Exception as exc:  # PySpark and Py4J raise many types here
        _stop_quietly(SparkSession)
        raise EngineError(
            f"Spark could not start with {where} ({_reason(exc)}); check "
            "--spark-master (e.g. spark://host:7077, or local[4] for this "
            "machine) and that the cluster is running and reachable"
        ) from None
    return session, True


def _check_java():
    """Fail clearly when no Java runtime is there for Spark to start."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return
    if shutil.which("java"):
        return
    where = f"in JAVA_HOME ({home})" if home else "on the PATH"
    raise EngineError(
        f"--engine spark needs Java 17 or later, and no java was found {where}; "
        "install a Java runtime (e.g. apt-get install openjdk-17-jre-headless) "
        "or set JAVA_HOME to one"
    )


def _reason(exc):
    """The line of a Spark start-up error that says what went wrong: Py4J's
    message begins with the Java call that failed, the cause comes after."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [line.lstrip(": ") for line in lines if line.startswith(": ")]
    reason = (causes or lines or [type(exc).__name__])[0]
    return reason if len(reason) <= 200 else reason[:197] + "..."


def _stop_quietly(session_class):
    active = session_class.getActiveSession()
    if active is not None:
        try:
            active.stop()
        except Exception:  # already broken; the error above is what matters
            pass
