"""Reading exports: encodings, delimiters, dates, identifiers, formats, errors."""

import datetime
import gzip

import pandas as pd
import pytest

import shopseg
from shopseg.exceptions import (
    AmbiguousDateWarning,
    DateRangeWarning,
    InputFileError,
    MissingColumnWarning,
    ParseError,
    SchemaError,
)

HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,"
    "Country"
)
LINE = "536365,85123A,WHITE HANGING HEART,6,12/13/2010 8:26,2.55,17850,UK"


def parsed(con, columns="*"):
    """The rows of lines_parsed in file order, as a list of dicts."""
    cursor = con.execute(
        f"SELECT {columns} FROM lines_parsed ORDER BY source_id, line_no"
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


# --- encodings and delimiters ------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("cp1252", "cp1252"), ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")],
    ids=["cp1252-pound-byte", "utf8-with-bom", "plain-utf8"],
)
def test_encoding_is_detected_and_pound_sign_read(con, write_csv, encoding, reported):
    path = write_csv(
        "export.csv",
        f"""
        {HEADER}
        536365,GIFT_0001_20,Dotcom Gift Voucher £20.00,1,12/13/2010 8:26,17.02,,UK
        {LINE}
        """,
        encoding=encoding,
    )
    if encoding == "cp1252":
        assert b"\xa3" in path.read_bytes()  # the pound sign as one byte
    [info] = shopseg.read_files([path], con)
    assert info.encoding == reported
    assert info.lines == 2
    rows = parsed(con, "invoice, description")
    assert rows[0]["description"] == "Dotcom Gift Voucher £20.00"


@pytest.mark.parametrize(
    ("delimiter", "price"),
    [(";", "2,55"), ("\t", "2.55"), ("|", "2.55"), (",", "2.55")],
    ids=["semicolon-decimal-comma", "tab", "pipe", "comma"],
)
def test_delimiter_is_detected(con, write_csv, delimiter, price):
    fields = ["536365", "85123A", "HEART", "6", "12/13/2010 8:26", price, "17850", "UK"]
    header = HEADER.replace(",", delimiter)
    path = write_csv("export.csv", f"{header}\n{delimiter.join(fields)}\n")
    [info] = shopseg.read_files([path], con)
    assert info.delimiter == delimiter
    [row] = parsed(con, "quantity, price, customer_id")
    assert row == {"quantity": 6, "price": 2.55, "customer_id": "17850"}


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("encoding", ["cp1252", "utf-8"], ids=["cp1252", "utf8"])
def test_encoding_found_past_the_head(con, tmp_path, encoding, compress):
    """The head looks like ASCII; the first '£' comes some 150 KB later."""
    voucher = "536366,GIFT_0001_20,Voucher £20,1,12/13/2010 8:26,17.02,,UK"
    data = "\n".join([HEADER] + [LINE] * 2_000 + [voucher]).encode(encoding)
    path = tmp_path / ("late.csv.gz" if compress else "late.csv")
    path.write_bytes(gzip.compress(data) if compress else data)
    [info] = shopseg.read_files([path], con)
    assert (info.encoding, info.lines) == (encoding, 2_001)
    (description,) = con.execute(
        "SELECT description FROM lines_parsed WHERE line_no = 2002"
    ).fetchall()[0]
    assert description == "Voucher £20"


def test_gzip_is_read_whatever_its_name(con, tmp_path):
    text = f"{HEADER}\n{LINE}\n"
    plain_name = tmp_path / "export.csv"  # gzip bytes without the .gz suffix
    plain_name.write_bytes(gzip.compress(text.encode()))
    [info] = shopseg.read_files([plain_name], con)
    assert info.lines == 1
    assert parsed(con, "stock_code") == [{"stock_code": "85123A"}]


# --- dates -------------------------------------------------------------------


def dates(con):
    return [row["invoice_date"] for row in parsed(con, "invoice_date")]


def test_day_first_dates_are_inferred_from_the_whole_column(con, write_csv):
    path = write_csv(
        "dmy.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,6,01-12-2010 08:26,2.55,17850,UK
        536366,22633,HAND WARMER,6,13-12-2010 10:05,1.85,17850,UK
        """,
    )
    [info] = shopseg.read_files([path], con)
    assert info.date_format == "day-first"
    assert dates(con) == [
        pd.Timestamp("2010-12-01 08:26"),
        pd.Timestamp("2010-12-13 10:05"),
    ]


def test_ambiguous_dates_warn_and_read_month_first(con, write_csv):
    path = write_csv(
        "ambiguous.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,6,01/02/2011 08:26,2.55,17850,UK
        536366,22633,HAND WARMER,6,03/04/2011 10:05,1.85,17850,UK
        """,
    )
    with pytest.warns(AmbiguousDateWarning, match="InvoiceDate.*month-first"):
        [info] = shopseg.read_files([path], con)
    assert info.date_format == "month-first"
    assert dates(con) == [
        pd.Timestamp("2011-01-02 08:26"),
        pd.Timestamp("2011-03-04 10:05"),
    ]


def test_dates_around_1900_warn_of_a_wrong_date_column(con, write_csv):
    """Quantities mapped as dates read as Excel serial days: 1899-1900."""
    path = write_csv(
        "units.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,6,1,2.55,17850,UK
        536366,22633,HAND WARMER,6,215,1.85,17850,UK
        """,
    )
    with pytest.warns(DateRangeWarning, match=(
        r"units\.csv: column 'InvoiceDate' gives dates from 1899-12-31 to "
        r"1900-08-02; if it is not the invoice date"
    )):
        shopseg.read_files([path], con)


def test_dates_in_both_orders_are_refused_with_an_example_of_each(con, write_csv):
    path = write_csv(
        "mixed.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,6,13/12/2010 08:26,2.55,17850,UK
        536366,22633,HAND WARMER,6,12/14/2010 10:05,1.85,17850,UK
        """,
    )
    with pytest.raises(ParseError, match=(
        r"mixes day-first dates \(line 2: '13/12/2010 08:26'\) with "
        r"month-first dates \(line 3: '12/14/2010 10:05'\)"
    )):
        shopseg.read_files([path], con)


def test_a_date_no_order_reads_is_reported_as_a_bad_value(con, write_csv):
    """'13/45/2010' is no day-first date, nor a month-first one: not a sign
    that the column mixes the two orders."""
    path = write_csv(
        "impossible.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,6,12/13/2010 08:26,2.55,17850,UK
        536366,22633,HAND WARMER,6,13/45/2010 10:05,1.85,17850,UK
        """,
    )
    with pytest.raises(
        ParseError, match=r"line 3: column 'InvoiceDate' has '13/45/2010"
    ):
        shopseg.read_files([path], con)


@pytest.mark.parametrize(
    ("written", "date_format", "expected"),
    [
        ("12/13/2010 8:26", "month-first", "2010-12-13 08:26"),
        ("2010-12-01 08:26:00", "iso", "2010-12-01 08:26"),
        ("2010-12-01T08:26", "iso", "2010-12-01 08:26"),
        ("2010-12-01", "iso", "2010-12-01 00:00"),
        ("40513.35", "excel-serial", "2010-12-01 08:24"),
        ("40513", "excel-serial", "2010-12-01 00:00"),
        ("13.12.10 10:05", "day-first", "2010-12-13 10:05"),
    ],
    ids=[
        "uci-month-first",
        "iso-seconds",
        "iso-t",
        "iso-day",
        "excel-serial",
        "excel-serial-day",
        "dotted-two-digit-year",
    ],
)
def test_date_formats(con, write_csv, written, date_format, expected):
    path = write_csv(
        "dates.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,6,{written},2.55,17850,UK
        """,
    )
    [info] = shopseg.read_files([path], con)
    assert info.date_format == date_format
    assert dates(con) == [pd.Timestamp(expected)]


@pytest.mark.parametrize(
    ("written", "option", "message"),
    [
        ("13/12/2010 10:05", "month-first", r"'InvoiceDate'.*'13/12/2010 10:05'"),
        ("12/13/2010 10:05", "day-first", r"'InvoiceDate'.*'12/13/2010 10:05'"),
        ("2010-12-13 10:05", "day-first", r"'InvoiceDate' has iso.*'2010-12-11 10:05'"),
        ("13/12/2010 10:05", "iso", r"line 2: column 'InvoiceDate' has '11/12/2010"
         r" 10:05', which is not an ISO date \(YYYY-MM-DD HH:MM\) \(2 lines"),
        ("13/12/2010 10:05", "excel-serial", r"line 2: column 'InvoiceDate' has "
         r"'11/12/2010 10:05', which is not an Excel serial"),
    ],
    ids=["day-first-data", "month-first-data", "iso-data", "not-iso", "not-serial"],
)
def test_date_contradicting_the_option_is_a_parse_error(
    con, write_csv, written, option, message
):
    path = write_csv(
        "dates.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,6,{written.replace('13', '11')},2.55,17850,UK
        536366,85123A,HEART,6,{written},2.55,17850,UK
        """,
    )
    with pytest.raises(ParseError, match=message):
        shopseg.read_files([path], con, date_format=option)


def test_dates_mixing_both_orders_are_a_parse_error(con, write_csv):
    path = write_csv(
        "dates.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,6,13/12/2010 10:05,2.55,17850,UK
        536366,85123A,HEART,6,12/13/2010 10:05,2.55,17850,UK
        """,
    )
    with pytest.raises(ParseError, match=r"'13/12/2010 10:05'.*'12/13/2010 10:05'"):
        shopseg.read_files([path], con)


def test_unknown_date_format_option_is_refused(con, write_csv):
    path = write_csv("a.csv", f"{HEADER}\n{LINE}\n")
    with pytest.raises(ParseError, match="date format 'ymd' is not supported"):
        shopseg.read_files([path], con, date_format="ymd")


# --- identifiers -------------------------------------------------------------


def test_float_customer_ids_and_prefixed_invoices(con, write_csv):
    path = write_csv(
        "floats.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,6,12/13/2010 8:26,2.55,17850.0,UK
        536366,22633,HAND WARMER,6,12/13/2010 8:28,1.85,,UK
        C536379,D,Discount,-1,12/13/2010 9:41,27.5,14527.0,UK
        536367,84879,BIRD ORNAMENT,32,12/1/2010 8:34,1.69,nan,UK
        """,
    )
    shopseg.read_files([path], con)
    rows = parsed(con, "invoice, customer_id")
    assert rows == [
        {"invoice": "536365", "customer_id": "17850"},
        {"invoice": "536366", "customer_id": None},
        {"invoice": "C536379", "customer_id": "14527"},
        {"invoice": "536367", "customer_id": None},
    ]
    shopseg.clean_lines(con)
    buckets = con.execute("SELECT bucket FROM lines ORDER BY line_no").fetchall()
    assert [b for (b,) in buckets] == [
        "kept", "no_customer", "non_merchandise", "no_customer"
    ]


def test_blank_description_and_country(con, write_csv):
    path = write_csv(
        "blanks.csv",
        f"""
        {HEADER}
        536365,85123A,,6,12/13/2010 8:26,2.55,17850,
        """,
    )
    shopseg.read_files([path], con)
    [row] = parsed(con, "description, country")
    assert row == {"description": None, "country": "Unspecified"}
    raw = con.execute("SELECT description, line_no FROM lines_raw").fetchall()
    assert raw == [(None, 2)]  # an empty field is read as NULL


# --- column names --------------------------------------------------------------


def test_column_map_names_an_unusual_header(con, write_csv):
    path = write_csv(
        "mapped.csv",
        """
        InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,ClientRef,Country
        536365,85123A,HEART,6,12/13/2010 8:26,2.55,17850,UK
        """,
    )
    [info] = shopseg.read_files([path], con, column_map={"customer_id": "ClientRef"})
    assert info.columns["customer_id"] == "ClientRef"
    assert parsed(con, "customer_id") == [{"customer_id": "17850"}]


def test_unknown_columns_list_expected_names_and_closest(con, write_csv):
    path = write_csv(
        "unknown.csv",
        """
        InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,ClientRef,Country
        536365,85123A,HEART,6,12/13/2010 8:26,2.55,17850,UK
        """,
    )
    with pytest.raises(
        SchemaError,
        match=r"unknown\.csv: no column found for customer_id \(expected "
        r"'CustomerID' or 'Customer ID'\) \(closest found: 'ClientRef'\).*"
        r"--column customer_id=HEADER",
    ):
        shopseg.read_files([path], con)


def test_unknown_columns_unlike_any_expected_get_no_hint(con, write_csv):
    path = write_csv("foo.csv", "foo,bar,baz\n1,2,3\n")
    with pytest.raises(SchemaError) as raised:
        shopseg.read_files([path], con)
    message = str(raised.value)
    assert "no column found for invoice (expected 'InvoiceNo' or 'Invoice')" in message
    assert "closest found" not in message
    assert "The file's columns are 'foo', 'bar', 'baz'" in message


def test_a_missing_optional_column_is_said_with_the_unused_ones(con, write_csv):
    """Mapping only the required columns of an odd export leaves 'Item' and
    'Nation' unread: the warning names them, not just the blank result."""
    path = write_csv(
        "odd.csv",
        """
        OrderRef,SKU,Item,Units,When,UnitCost,ClientRef,Nation
        1,A,MUG,2,2011-01-01 10:00,1.5,c1,UK
        """,
    )
    mapping = {"invoice": "OrderRef", "stock_code": "SKU", "quantity": "Units",
               "invoice_date": "When", "price": "UnitCost",
               "customer_id": "ClientRef"}
    with pytest.warns(MissingColumnWarning, match=(
        r"odd\.csv: no column found for description or country, read as blank"
        r".*unused columns are 'Item', 'Nation'.*--column description=HEADER"
    )):
        shopseg.read_files([path], con, column_map=mapping)


def test_column_map_naming_a_missing_header(con, write_csv):
    path = write_csv("a.csv", f"{HEADER}\n{LINE}\n")
    with pytest.raises(SchemaError, match=r"customer_id=Client .*'CustomerID'"):
        shopseg.read_files([path], con, column_map={"customer_id": "Client"})


@pytest.mark.parametrize(
    ("items", "message"),
    [(["customer_id"], "not of the form NAME=HEADER"), (["client=X"], "not a shopseg")],
    ids=["no-equals", "unknown-name"],
)
def test_parse_column_map_errors(items, message):
    with pytest.raises(SchemaError, match=message):
        shopseg.read.parse_column_map(items)


# --- values that do not parse --------------------------------------------------


@pytest.mark.parametrize(
    ("column", "bad", "message"),
    [
        ("InvoiceDate", "yesterday", r"line 3: column 'InvoiceDate' has 'yesterday'"),
        ("InvoiceDate", "", r"line 3: column 'InvoiceDate' has an empty value"),
        ("Quantity", "six", r"line 3: column 'Quantity' has 'six', which is not a"),
        ("Quantity", "1.5", r"line 3: column 'Quantity' has '1.5'.*whole number"),
        ("UnitPrice", "2,55", r"line 3: column 'UnitPrice' has '2,55'"),
        ("UnitPrice", "", r"line 3: column 'UnitPrice' has an empty value"),
        ("InvoiceNo", " ", r"line 3: column 'InvoiceNo' has an empty value"),
        ("StockCode", "", r"line 3: column 'StockCode' has an empty value"),
    ],
    ids=[
        "date-word",
        "date-empty",
        "quantity-word",
        "quantity-fraction",
        "price-comma",
        "price-empty",
        "invoice-blank",
        "stock-code-empty",
    ],
)
def test_unparseable_value_names_file_column_value_and_line(
    con, write_csv, column, bad, message
):
    values = {
        "InvoiceNo": "536366",
        "StockCode": "22633",
        "Description": "HAND WARMER",
        "Quantity": "6",
        "InvoiceDate": "12/13/2010 8:28",
        "UnitPrice": "1.85",
        "CustomerID": "17850",
        "Country": "UK",
    }
    values[column] = f'"{bad}"' if "," in bad else bad
    path = write_csv(
        "bad.csv",
        f"""
        {HEADER}
        {LINE}
        {','.join(values.values())}
        {LINE}
        """,
    )
    with pytest.raises(ParseError, match=rf"^bad\.csv, {message}"):
        shopseg.read_files([path], con)


def test_parse_error_counts_the_lines_like_it(con, write_csv):
    path = write_csv(
        "bad.csv",
        f"""
        {HEADER}
        536365,85123A,HEART,six,12/13/2010 8:26,2.55,17850,UK
        536366,85123A,HEART,6,12/13/2010 8:26,2.55,17850,UK
        536367,85123A,HEART,seven,12/13/2010 8:26,2.55,17850,UK
        """,
    )
    with pytest.raises(ParseError, match=r"line 2: .*'six'.*\(2 lines like it\)"):
        shopseg.read_files([path], con)


# --- files that cannot be read ---------------------------------------------------


def test_a_text_export_named_as_a_workbook_is_read_as_csv(con, write_csv):
    path = write_csv("export.xlsx", f"{HEADER}\n{LINE}\n")
    [info] = shopseg.read_files([path], con)
    assert (info.format, info.lines) == ("csv", 1)


def test_missing_file(con, tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.csv: no such file"):
        shopseg.read_files([tmp_path / "nope.csv"], con)


def test_folder_is_not_a_file(con, tmp_path):
    with pytest.raises(InputFileError, match="not a readable file"):
        shopseg.read_files([tmp_path], con)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"",
         r"empty\.csv: the first line is blank, so the file is empty"),
        ("noheader.csv", b"just some words\n", "has no delimiter"),
        ("random.csv", bytes(range(256)) * 20, "not a text export"),
        ("nul.csv", b"a,b,c\n\x00\x00\x00\x01,\x02\n", "not a text export"),
        ("undefined.csv", f"{HEADER}\n".encode() + b"1,2,\x81\n",
         "byte 0x81 is neither UTF-8 nor cp1252 text"),
        ("ragged.csv", f"{HEADER}\n1,2,3\n".encode(), r"line 2 has 3 fields"),
        ("header.csv", f"{HEADER}\n".encode(),
         r"header\.csv: the file has a header but no lines under it"),
        ("bad.xlsx", b"PK\x03\x04 not a workbook",
         "cannot be read as an Excel workbook"),
        ("bad.parquet", b"not parquet", "cannot be read as PARQUET"),
    ],
    ids=["empty", "no-header", "random-bytes", "nul-bytes", "not-cp1252", "ragged",
         "header-only", "xlsx", "parquet"],
)
def test_unreadable_file_is_an_input_error(con, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        shopseg.read_files([path], con)


@pytest.mark.parametrize("size", [1_000, 200_000], ids=["small", "large"])
def test_truncated_gzip_is_an_input_error(con, tmp_path, size):
    text = HEADER + "\n" + f"{LINE}\n" * size
    packed = gzip.compress(text.encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InputFileError, match=r"cut\.csv\.gz: .*(complete|truncated)"):
        shopseg.read_files([path], con)


# --- Excel and Parquet -----------------------------------------------------------


def test_excel_workbook_sheets_are_sources(con, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    first = book.active
    first.title = "Year 2009-2010"
    first.append(HEADER.split(","))
    first.append(
        [536365, "85123A", "HEART", 6, datetime.datetime(2010, 12, 1, 8, 26), 2.55,
         17850, "UK"]
    )
    second = book.create_sheet("Year 2010-2011")
    second.append(HEADER.split(","))
    second.append(["C536379", 85123, "HEART", -6, 40513.35, 2.55, 17850.0, "UK"])
    second.append([536380, "22633", "WARMER", 2, 40513.5, 1.85, None, "UK"])
    path = tmp_path / "retail.xlsx"
    book.save(path)

    infos = shopseg.read_files([path], con)
    assert [(i.name, i.format, i.lines) for i in infos] == [
        ("retail.xlsx[Year 2009-2010]", "excel", 1),
        ("retail.xlsx[Year 2010-2011]", "excel", 2),
    ]
    assert [i.date_format for i in infos] == ["iso", "excel-serial"]
    rows = parsed(
        con, "source_id, line_no, invoice, stock_code, invoice_date, customer_id"
    )
    assert rows == [
        {"source_id": 0, "line_no": 2, "invoice": "536365", "stock_code": "85123A",
         "invoice_date": pd.Timestamp("2010-12-01 08:26"), "customer_id": "17850"},
        {"source_id": 1, "line_no": 2, "invoice": "C536379", "stock_code": "85123",
         "invoice_date": pd.Timestamp("2010-12-01 08:24"), "customer_id": "17850"},
        {"source_id": 1, "line_no": 3, "invoice": "536380", "stock_code": "22633",
         "invoice_date": pd.Timestamp("2010-12-01 12:00"), "customer_id": None},
    ]


def test_parquet_file_is_read(con, tmp_path):
    frame = pd.DataFrame(
        {
            "Invoice": ["536365", "C536379"],
            "StockCode": ["85123A", "85123A"],
            "Description": ["HEART", None],
            "Quantity": [6, -6],
            "InvoiceDate": pd.to_datetime(["2010-12-01 08:26", "2010-12-01 09:41"]),
            "Price": [2.55, 2.55],
            "Customer ID": [17850.0, float("nan")],
            "Country": ["UK", "UK"],
        }
    )
    path = tmp_path / "retail.parquet"
    frame.to_parquet(path)
    [info] = shopseg.read_files([path], con)
    assert (info.format, info.lines, info.encoding) == ("parquet", 2, None)
    rows = parsed(con, "line_no, invoice, quantity, invoice_date, price, customer_id")
    assert rows == [
        {"line_no": 1, "invoice": "536365", "quantity": 6,
         "invoice_date": pd.Timestamp("2010-12-01 08:26"), "price": 2.55,
         "customer_id": "17850"},
        {"line_no": 2, "invoice": "C536379", "quantity": -6,
         "invoice_date": pd.Timestamp("2010-12-01 09:41"), "price": 2.55,
         "customer_id": None},
    ]


def test_sources_and_line_numbers(con, write_csv):
    first = write_csv("a.csv", f"{HEADER}\n{LINE}\n{LINE}\n")
    second = write_csv("b.csv", f"{HEADER}\n{LINE}\n")
    infos = shopseg.read_files([first, second], con)
    assert [(i.source_id, i.name, i.lines) for i in infos] == [
        (0, "a.csv", 2), (1, "b.csv", 1)
    ]
    assert all(len(i.sha256) == 64 for i in infos)
    rows = con.execute(
        "SELECT source_id, source_file, line_no FROM lines_raw ORDER BY ALL"
    ).fetchall()
    assert rows == [(0, "a.csv", 2), (0, "a.csv", 3), (1, "b.csv", 2)]
