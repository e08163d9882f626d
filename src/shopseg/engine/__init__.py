"""Run reading, cleaning and customer features on Apache Spark.

The SQL of those stages is written once, in DuckDB's dialect; on Spark it is
translated by sqlglot and run by :class:`SparkConnection`, which stands in
for the DuckDB connection the stages are given. Needs the ``spark`` extra
(``pip install 'shopseg[spark]'``) and Java 17 or later.
"""

from ._connection import SparkConnection
from ._dialect import bind, to_spark
from ._read import read_files
from ._session import SPARK_CONFIG, SQL_CONFIG, start_spark

__all__ = [
    "SPARK_CONFIG",
    "SQL_CONFIG",
    "SparkConnection",
    "bind",
    "read_files",
    "start_spark",
    "to_spark",
]
