"""The Spark engine: the same SQL, run on Spark, gives what DuckDB gives.

Three exports of generated lines (every kind of noise the cleaning rules
handle) are read, cleaned and turned into customer features by both
engines; the ledger, every cleaned line and every feature must agree, money
to the cent. Spark runs in local mode, on two cores.
"""

import datetime
import os
import shutil
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from shopseg import pipeline
from shopseg.datasets import make_transactions
from shopseg.exceptions import EngineError

pytest.importorskip("sqlglot")
from shopseg.engine import SparkConnection, bind, to_spark  # noqa: E402
from shopseg.engine import _dialect, _session  # noqa: E402

MONEY = ("spend", "mean_order_value", "min_order_value", "max_order_value",
         "monetary_value")
COUNTS = ("orders", "distinct_products", "recency_days", "tenure_days",
          "frequency")


def _java_found():
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and os.path.exists(
        os.path.join(home, "bin", "java"))))


@pytest.fixture(scope="module")
def spark():
    """One local Spark session for the module, set up for small data: few
    partitions, and no query compilation or adaptive planning, which cost
    more than they save on a few thousand lines (a third of the time)."""
    pytest.importorskip("pyspark")
    if not _java_found():
        pytest.skip("Spark needs Java 17 or later; no java found")
    con = SparkConnection.start(
        "local[2]",
        {
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.adaptive.enabled": "false",
            "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
        },
    )
    yield con
    con.close()


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Three sources of one shop: a gzip CSV, an overlapping semicolon CSV in
    cp1252 with decimal commas and ISO dates, and a Parquet file."""
    folder = tmp_path_factory.mktemp("exports")
    lines = make_transactions(40, random_state=7)
    third = len(lines) // 3

    first = folder / "first.csv.gz"
    lines.iloc[: 2 * third].to_csv(
        first, index=False, date_format="%m/%d/%Y %H:%M", compression="gzip"
    )

    # Its first third repeats the end of the first file (overlaps); the
    # pound signs come after the head, so both readers must fall back to
    # cp1252 when they meet them.
    second_lines = lines.iloc[third:].copy()
    tail = second_lines.index[-40:]
    second_lines.loc[tail, "Description"] = "TEA TOWEL £ CAFÉ"
    second = folder / "second.csv"
    second_lines.to_csv(
        second, index=False, sep=";", decimal=",", encoding="cp1252"
    )

    third_file = folder / "third.parquet"
    make_transactions(8, start="2011-03-01", random_state=11).to_parquet(third_file)
    return [first, second, third_file]


@pytest.fixture(scope="module")
def both(exports, spark, tmp_path_factory):
    """The same run (reading to segments) with each engine: its context, and
    the store's ledger, lines and customers, fetched before any other test
    reuses the Spark session."""
    stages = pipeline.INGEST_STAGES + pipeline.SEGMENT_STAGES
    results = {}
    for engine in pipeline.ENGINES:
        out = tmp_path_factory.mktemp(engine)
        ctx = pipeline.run(
            exports, out, pipeline.Options(engine=engine), stages=stages
        )
        con = duckdb.connect(str(out / "shopseg.duckdb"), read_only=True)
        results[engine] = dict(
            out=out,
            infos=ctx.inputs,
            ledger=ctx.ledger,
            stored_ledger=con.sql("SELECT * FROM ledger").df(),
            lines=con.sql("SELECT * FROM lines ORDER BY ALL").df(),
            customers=con.sql("SELECT * FROM customers ORDER BY customer_id").df(),
            schema=con.sql(
                "SELECT table_name, column_name, data_type "
                "FROM information_schema.columns ORDER BY ALL"
            ).fetchall(),
            engine=con.sql("SELECT options->>'engine' FROM runs").fetchall(),
        )
        con.close()
    return results


def test_sources_are_read_alike(both):
    duck, spark = both["duckdb"]["infos"], both["spark"]["infos"]
    assert [i.as_dict() for i in spark] == [i.as_dict() for i in duck]
    assert [(i.format, i.encoding, i.delimiter, i.date_format) for i in spark] == [
        ("csv", "utf-8", ",", "month-first"),
        ("csv", "cp1252", ";", "iso"),
        ("parquet", None, None, "iso"),
    ]


@pytest.mark.parametrize("source", ["ledger", "stored_ledger"])
def test_same_ledger(both, source):
    duck, spark = both["duckdb"][source], both["spark"][source]
    assert spark.bucket.tolist() == duck.bucket.tolist()
    assert spark.lines.tolist() == duck.lines.tolist()
    assert spark.quantity.tolist() == duck.quantity.tolist()
    assert spark.value.round(2).tolist() == duck.value.round(2).tolist()
    # The input has every kind of line the rules sort out.
    found = set(duck.bucket[duck.lines > 0])
    assert {"kept", "overlap", "duplicate", "no_customer", "non_merchandise",
            "cancellation_matched", "purchase_reversed", "write_off"} <= found


def test_same_lines(both):
    duck, spark = both["duckdb"]["lines"], both["spark"]["lines"]
    assert list(spark.columns) == list(duck.columns)
    assert len(spark) == len(duck) == both["duckdb"]["ledger"].lines.sum()
    money = ["price", "amount"]
    pd.testing.assert_frame_equal(spark.drop(columns=money), duck.drop(columns=money))
    for column in money:
        np.testing.assert_array_equal(
            spark[column].round(4), duck[column].round(4), err_msg=column
        )
    assert (spark.description == "TEA TOWEL £ CAFÉ").sum() > 0


def test_same_customer_features(both):
    duck, spark = both["duckdb"]["customers"], both["spark"]["customers"]
    assert list(spark.columns) == list(duck.columns)
    assert any(c.startswith("share_") for c in duck.columns)
    assert spark.customer_id.tolist() == duck.customer_id.tolist()
    assert len(duck) > 30
    for column in MONEY:
        np.testing.assert_array_equal(
            spark[column].round(2), duck[column].round(2), err_msg=column
        )
    for column in (*COUNTS, "country", "first_purchase", "last_purchase",
                   "observation_end"):
        assert spark[column].tolist() == duck[column].tolist(), column
    features = duck.columns[: duck.columns.get_loc("observation_end")]
    rest = [c for c in features if c not in (*MONEY, *COUNTS, "customer_id",
                                             "country", "first_purchase",
                                             "last_purchase")]
    for column in rest:
        np.testing.assert_allclose(
            spark[column], duck[column], rtol=1e-9, atol=1e-12, err_msg=column
        )


def test_later_stages_work_unchanged(both):
    duck, spark = both["duckdb"], both["spark"]
    assert spark["schema"] == duck["schema"]
    assert spark["engine"] == [("spark",)]
    # The segments come from the same features (equal up to the order of
    # floating-point sums): the same scores, and the same partition.
    for score in ("r_score", "f_score", "m_score", "rfm_segment"):
        assert spark["customers"][score].tolist() == \
            duck["customers"][score].tolist(), score
    assert adjusted_rand_score(
        duck["customers"].segment, spark["customers"].segment
    ) == 1.0


def test_spark_tables_land_as_parquet(both):
    folder = both["spark"]["out"] / pipeline.SPARK_FOLDER
    assert {p.name for p in folder.iterdir()} >= {
        "lines.parquet", "ledger.parquet", "customers.parquet"
    }
    ledger = pd.read_parquet(folder / "ledger.parquet")
    assert ledger.lines.tolist() == both["duckdb"]["ledger"].lines.tolist()
    assert not (both["duckdb"]["out"] / pipeline.SPARK_FOLDER).exists()


def test_bad_date_on_spark_is_one_paragraph(spark, tmp_path, run_cli):
    export = tmp_path / "bad.csv"
    export.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
        "CustomerID,Country\n"
        "536365,85123A,HEART,6,12/13/2010 8:26,2.55,17850,UK\n"
        "536366,85123A,HEART,6,soon,2.55,17850,UK\n"
    )
    status, out, err = run_cli(
        ["run", export, "--out", tmp_path / "out", "--engine", "spark"]
    )
    assert status == 2
    assert "Traceback" not in out + err
    assert err.startswith("error: ") and "\n\n" not in err.strip()
    assert "line 3: column 'InvoiceDate' has 'soon'" in " ".join(err.split())


def test_spark_start_prints_no_jvm_notices():
    """A driver shopseg starts logs errors only: none of Spark's start-up
    notices (log profile, host name, native libraries) reach the terminal."""
    pytest.importorskip("pyspark")
    if not _java_found():
        pytest.skip("Spark needs Java 17 or later; no java found")
    script = (
        "from shopseg.engine._session import start_spark\n"
        "session, _ = start_spark('local[1]', {'spark.ui.enabled': 'false'})\n"
        "session.stop()\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    noise = [
        line for line in done.stderr.splitlines()
        if " WARN " in line or "log4j" in line or "log level" in line
    ]
    assert noise == []


def test_spark_master_needs_the_spark_engine(tmp_path, run_cli):
    status, _, err = run_cli(
        ["run", "x.csv", "--out", tmp_path, "--spark-master", "local[2]"]
    )
    assert status == 2
    assert "--spark-master needs --engine spark" in err


def test_missing_pyspark_says_how_to_install(monkeypatch, tmp_path, run_cli):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    export = tmp_path / "one.csv"
    export.write_text("InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,"
                      "CustomerID\n1,A,1,2011-01-01,1.0,7\n")
    status, out, err = run_cli(
        ["run", export, "--out", tmp_path / "out", "--engine", "spark"]
    )
    assert status == 2
    assert "Traceback" not in out + err
    assert "pip install 'shopseg[spark]'" in " ".join(err.split())
    assert not (tmp_path / "out" / "shopseg.duckdb").exists()


def test_missing_java_is_named(monkeypatch):
    monkeypatch.setenv("JAVA_HOME", "/nowhere")
    monkeypatch.setattr(_session.shutil, "which", lambda name: None)
    with pytest.raises(EngineError, match=r"needs Java 17 or later.*JAVA_HOME"):
        _session._check_java()


def test_bind_puts_literals_for_placeholders():
    statement = bind(
        "SELECT ? + INTERVAL 1 DAY, '?', ?, ?",
        [datetime.date(2011, 12, 9), 1.5, None],
    )
    assert statement == "SELECT DATE '2011-12-09' + INTERVAL 1 DAY, '?', 1.5, NULL"
    with pytest.raises(ValueError, match="2 placeholders but 1"):
        bind("SELECT ?, ?", [1])


@pytest.mark.parametrize(
    "duckdb_sql, spark_sql",
    [
        ("SELECT hash(a, b) FROM t", "SELECT XXHASH64(a, b) FROM t"),
        ("SELECT mode(c) FROM t", "SELECT MODE(c, TRUE) FROM t"),
        ("SELECT 1.0 * x FROM t", "SELECT CAST(1.0 AS DOUBLE) * x FROM t"),
        (
            r"SELECT regexp_replace(p, '^(-?\d*),(\d+)$', '\1.\2')",
            r"SELECT REGEXP_REPLACE(p, '^(-?\\d*),(\\d+)$', '$1.$2')",
        ),
        (
            "SELECT try_strptime(d, ['%d/%m/%Y %H:%M', '%d/%m/%Y'])",
            "SELECT COALESCE(TRY_TO_TIMESTAMP(d, 'd/M/yyyy H:m'), "
            "TRY_TO_TIMESTAMP(d, 'd/M/yyyy'))",
        ),
    ],
    ids=["hash", "mode", "decimal-literal", "regexp-groups", "strptime"],
)
def test_duckdb_functions_spark_lacks_are_rewritten(duckdb_sql, spark_sql):
    assert to_spark(duckdb_sql) == spark_sql


def test_alias_in_where_is_expanded_for_spark():
    # DuckDB lets WHERE name an alias of the SELECT list; Spark does not.
    sql = to_spark(
        "SELECT x + 1 AS y FROM t WHERE y > 2", schema={"t": ["x"]}
    )
    assert sql == "SELECT t.x + 1 AS y FROM t AS t WHERE (t.x + 1) > 2"


def test_first_match_replacement_must_be_anchored():
    with pytest.raises(EngineError, match="first match only"):
        to_spark("SELECT regexp_replace(x, 'a', 'b')")
    assert "'b'" in to_spark("SELECT regexp_replace(x, 'a', 'b', 'g')")


def test_unknown_date_code_is_refused():
    with pytest.raises(EngineError, match="uses %j"):
        _dialect._java_pattern("%Y-%j")
