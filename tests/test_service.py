"""Tests of shopseg.service: endpoints, errors, keys, batch equality, contract.

A small model is trained once, by the stages ``shopseg run`` uses, on
synthetic orders of a fixed seed: shops that order dozens and come back, and
one-off buyers.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from shopseg import pipeline
from shopseg.cli import main
from shopseg.exceptions import InputFileError, ModelInputError, ShopsegError
from shopseg.predict import load_model, score_orders
from shopseg.read import COLUMNS
from shopseg.service import create_app, load_api_keys
from shopseg.service._app import INTERNAL_ERROR

KEY = "test-key-0123456789abcdef"
OTHER_KEY = "other-key-0123456789abcdef"
KINDS = ("JUMBO BAG", "SCENTED CANDLE", "TEA MUG", "GREETING CARD", "WALL CLOCK",
         "CAKE TIN")
COLOURS = ("RED", "BLUE", "PINK", "GREEN", "IVORY", "BLACK", "GOLD")
NUMBERS = ("predicted_spend", "spend_lower", "spend_upper", "repeat_probability")
EXACT = ("customer_id", "first_purchase_day", "next_year_segment", "later_lines",
         "horizon_days")
LEAKS = ("Traceback", "site-packages", "/tmp", "shopseg/", ".py", "File \"")


def _synthetic_lines(n_customers=400, seed=0):
    """Two years of order lines in the columns of a batch file."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2010-01-01")
    first = rng.integers(0, 540, n_customers)
    shop = rng.random(n_customers) < 0.5
    rows = []
    invoice = 500000
    for i in range(n_customers):
        days = [first[i]]
        if shop[i] or rng.random() < 0.2:
            gaps = rng.integers(20, 120, 8).cumsum()
            days += [first[i] + g for g in gaps if first[i] + g < 730]
        for day in days:
            invoice += 1
            n_lines = rng.integers(5, 25) if shop[i] else rng.integers(1, 6)
            codes = rng.integers(10, 52, n_lines)
            quantity = np.where(shop[i], 12, 1) * rng.integers(1, 4, n_lines)
            when = start + pd.Timedelta(
                days=int(day), hours=int(rng.integers(8, 18)),
                minutes=int(rng.integers(0, 60)),
            )
            for code, q in zip(codes, quantity):
                rows.append((
                    str(invoice), f"2{code:03d}",
                    f"{COLOURS[code % 7]} {KINDS[code % 6]}", int(q),
                    when.strftime("%Y-%m-%dT%H:%M:%S"),
                    round(0.5 + (code % 9) * 0.85, 2), str(12000 + i),
                    "United Kingdom" if i % 5 else "France",
                ))
    return pd.DataFrame(rows, columns=list(COLUMNS))


@pytest.fixture(scope="session")
def lines():
    return _synthetic_lines()


@pytest.fixture(scope="session")
def model_dir(lines, tmp_path_factory):
    """The output folder of the stages of ``shopseg run`` that save the model."""
    folder = tmp_path_factory.mktemp("service")
    path = folder / "orders.csv"
    lines.to_csv(path, index=False)
    stages = (pipeline.INGEST_STAGES + pipeline.SEGMENT_STAGES[:1]
              + pipeline.PREDICT_STAGES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.run([path], folder / "out", stages=stages)
    return folder / "out"


@pytest.fixture(scope="module")
def app(model_dir):
    return create_app(model_dir, api_keys=[KEY], max_lines=300,
                      max_body_bytes=512 * 1024, max_batch_lines=5000)


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False,
                    headers={"X-API-Key": KEY}) as test_client:
        yield test_client


def _first_orders(lines, customers, later=True):
    """Each customer's first day of lines, with one later invoice if any."""
    dates = pd.to_datetime(lines.invoice_date)
    chosen = lines[lines.customer_id.isin(customers)].assign(_day=dates.dt.date)
    orders = {}
    for customer, group in chosen.groupby("customer_id", sort=True):
        days = sorted(group._day.unique())
        keep = days[:2] if later else days[:1]
        kept = group[group._day.isin(keep)].drop(columns="_day")
        orders[customer] = kept.to_dict("records")
    return orders


def _order_body(order_lines):
    return {"lines": order_lines}


def _one_order(lines):
    return next(iter(_first_orders(lines, ["12001"], later=False).values()))


# ------------------------------------------------------------- endpoints
def test_single_order_gets_a_full_forecast(client, lines):
    response = client.post("/v1/score", json=_order_body(_one_order(lines)))
    assert response.status_code == 200, response.text
    forecast = response.json()
    assert forecast["customer_id"] == "12001"
    assert forecast["predicted_spend"] >= 0
    assert 0 <= forecast["repeat_probability"] <= 1
    assert forecast["spend_lower"] == 0 <= forecast["spend_upper"]
    assert forecast["interval_level"] == pytest.approx(0.9)
    assert forecast["next_year_segment_name"]
    assert forecast["horizon_days"] > 0
    ready = client.get("/health/ready").json()
    assert forecast["model_version"] == ready["model_version"]


def test_health_and_documents(client):
    ready = client.get("/health/ready").json()
    assert ready["status"] == "ready"
    assert ready["model_version"] and ready["model_created_at"]
    # Liveness names the same model, not nulls beside a loaded one.
    assert client.get("/health/live").json() == dict(ready, status="alive")
    schema = client.get("/openapi.json").json()
    assert {"/v1/score", "/v1/score/batch", "/health/live", "/health/ready",
            "/metrics"} <= set(schema["paths"])
    order = schema["components"]["schemas"]["Order"]["properties"]["lines"]
    assert order["maxItems"] == 300  # the service's limit is documented
    assert "swagger" in client.get("/docs").text.lower()


def test_the_documents_page_needs_no_cdn(app):
    """Swagger UI comes from the service itself, without a key: the page
    works on a machine that reaches no other host."""
    with TestClient(app) as anonymous:
        page = anonymous.get("/docs").text
        assert "://" not in page
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert any(asset.endswith(".js") for asset in assets)
        for asset in assets:
            assert anonymous.get(asset).status_code == 200, asset


def test_readiness_fails_when_the_scorer_stopped(client, app, monkeypatch):
    monkeypatch.setattr(app.state.scorer, "_thread", None)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == dict(client.get("/health/live").json(),
                                   status="not ready")


def test_a_full_queue_answers_503_with_retry_after(client, app, lines, monkeypatch):
    monkeypatch.setattr(app.state.scorer, "max_waiting", 0)
    response = client.post("/v1/score", json=_order_body(_one_order(lines)))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "waiting" in response.json()["detail"]


def test_metrics_count_requests_latencies_and_errors(client, lines):
    client.post("/v1/score", json=_order_body(_one_order(lines)))
    client.post("/v1/score", json={"lines": []})
    client.get("/no/such/path")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert ('shopseg_http_requests_total{method="POST",route="/v1/score",'
            'status="200"}') in text
    assert ('shopseg_http_errors_total{method="POST",route="/v1/score",'
            'status="422"}') in text
    assert 'route="other",status="404"' in text  # no series per unknown path
    assert "shopseg_http_request_duration_seconds_bucket" in text
    assert "shopseg_scoring_batch_orders_bucket" in text
    assert "shopseg_model_info{" in text


# ------------------------------------------------------ equality with batch
def test_service_gives_the_numbers_of_shopseg_predict(client, lines, model_dir,
                                                      tmp_path):
    """The same orders through ``shopseg predict`` and both endpoints.

    Among them: customers with later lines (counted, not used), one whose
    first order was cancelled the same day, one buying a product the model
    has never seen, one with a duplicate line, postage and a zero price,
    and one whose lines come in reverse order.
    """
    customers = [str(12000 + i) for i in range(0, 400, 10)]
    orders = _first_orders(lines, customers)
    reversed_order = [dict(orders["12000"][0], invoice="700001",
                           invoice_date="2011-06-01T10:00:00", customer_id="99001")]
    reversed_order.append(dict(reversed_order[0], invoice="C700001",
                               quantity=-reversed_order[0]["quantity"]))
    orders["99001"] = reversed_order
    orders["99002"] = [dict(orders["12010"][0], stock_code="NEW-1",
                            description="PINK TEA MUG WITH SPOTS",
                            customer_id="99002")]
    # A line sent twice (a duplicate), postage and a zero price: cleaned
    # away, as in a batch file.
    orders["12020"] = orders["12020"] + [
        dict(orders["12020"][0]),
        dict(orders["12020"][0], stock_code="POST", description="POSTAGE"),
        dict(orders["12020"][0], stock_code="2099", price=0.0),
    ]
    # The same lines in another order: the sums do not depend on it.
    orders["12030"] = orders["12030"][::-1]
    every_line = [line for order in orders.values() for line in order]

    path = tmp_path / "orders.csv"
    pd.DataFrame(every_line).to_csv(path, index=False)
    main(["predict", str(path), "--model", str(model_dir), "--output",
          str(tmp_path / "predictions.csv")])
    batch = pd.read_csv(
        tmp_path / "predictions.csv", dtype={"customer_id": str}
    ).set_index("customer_id", drop=False)
    batch["first_purchase_day"] = batch["first_purchase_day"].astype(str)
    assert set(batch.index) == set(orders)

    response = client.post("/v1/score/batch", json={"lines": every_line})
    assert response.status_code == 200, response.text
    served = pd.DataFrame(response.json()["forecasts"]).set_index(
        "customer_id", drop=False
    )
    for column in NUMBERS + EXACT:
        np.testing.assert_array_equal(
            served[column].to_numpy(), batch.loc[served.index, column].to_numpy(),
            err_msg=column,
        )

    # Single orders, sent together so that the service batches them.
    results = {}

    def send(customer):
        results[customer] = client.post(
            "/v1/score", json=_order_body(orders[customer])
        )

    threads = [threading.Thread(target=send, args=(c,)) for c in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.status_code for r in results.values()} == {200}
    single = pd.DataFrame([r.json() for r in results.values()]).set_index(
        "customer_id", drop=False
    )
    expected = batch.loc[single.index]
    # Bit for bit: a customer's sums of money are exact, whoever else is in
    # the call.
    for column in NUMBERS + EXACT:
        np.testing.assert_array_equal(single[column].to_numpy(),
                                      expected[column].to_numpy(), column)


def test_orders_sharing_an_unknown_product_are_scored_apart(client, lines,
                                                            model_dir):
    """Two customers buy one product the model has not seen, described
    differently: each gets the forecast of its order scored alone."""
    base = _one_order(lines)[0]
    first = [dict(base, stock_code="NEW-9", description="GOLD WALL CLOCK",
                  customer_id="98001")]
    second = [dict(base, stock_code="NEW-9", description="RED JUMBO BAG",
                   customer_id="98002", quantity=48)]
    saved = load_model(model_dir)
    responses = {}

    def send(order):
        responses[order[0]["customer_id"]] = client.post(
            "/v1/score", json=_order_body(order)
        ).json()

    threads = [threading.Thread(target=send, args=(o,)) for o in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for order in (first, second):
        alone = score_orders(saved, pd.DataFrame(order).assign(
            invoice_date=lambda f: pd.to_datetime(f.invoice_date)
        )).iloc[0]
        got = responses[order[0]["customer_id"]]
        for column in NUMBERS:
            assert got[column] == alone[column], column
        assert got["next_year_segment"] == alone["next_year_segment"]


# ------------------------------------------------------------- bad input
def _line(lines, **changes):
    line = dict(_one_order(lines)[0])
    line.update(changes)
    return {k: v for k, v in line.items() if v is not ...}


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"quantity": "twelve"}, "lines[0].quantity"),
        ({"price": ...}, "lines[0].price"),
        ({"unit_cost": 1.0}, "lines[0].unit_cost"),
        ({"invoice_date": "2011-03-01T09:30:00+01:00"}, "lines[0].invoice_date"),
        ({"invoice_date": "2011-13-01T09:30:00"}, "lines[0].invoice_date"),
        ({"invoice_date": "1811-03-01T09:30:00"}, "lines[0].invoice_date"),
        ({"customer_id": "nan"}, "lines[0].customer_id"),
        ({"invoice": "   "}, "lines[0].invoice"),
        ({"description": "MUG\x00"}, "lines[0].description"),
        ({"quantity": 10**9}, "lines[0].quantity"),
    ],
    ids=["quantity-text", "price-missing", "unknown-column", "utc-offset",
         "month-13", "year-1811", "customer-nan", "blank-invoice",
         "control-character", "quantity-huge"],
)
def test_invalid_lines_get_422_naming_the_field(client, lines, changes, field):
    response = client.post("/v1/score", json={"lines": [_line(lines, **changes)]})
    assert response.status_code == 422
    body = response.json()
    assert field in [error["field"] for error in body["errors"]]
    assert field in body["detail"]
    assert not any(leak in response.text for leak in LEAKS)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"invoice_date": "not a date"}, "'not a date' is not a local date and "
         "time without UTC offset; write e.g. '2011-03-01T09:30:00'"),
        ({"invoice_date": "2011-03-01T09:30:00+02:00"}, "without UTC offset"),
        ({"invoice": "   "}, "'   ' is blank or holds control characters"),
        ({"description": "MUG\x00"}, "holds control characters"),
    ],
    ids=["date-text", "utc-offset", "blank-invoice", "control-character"],
)
def test_a_value_out_of_pattern_is_said_in_words(client, lines, changes, message):
    response = client.post("/v1/score", json={"lines": [_line(lines, **changes)]})
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert "should match pattern" not in response.text


def test_a_body_sent_without_json_content_type_is_named(client):
    response = client.post("/v1/score", content=b"lines=1")
    assert response.status_code == 422
    assert "the body must be a JSON object" in response.json()["detail"]


def test_not_a_number_price_gets_422(client, lines):
    line = _line(lines)
    body = json.dumps({"lines": [line]}).replace(
        f'"price": {json.dumps(line["price"])}', '"price": NaN'
    )
    response = client.post("/v1/score", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines[0].price"


def test_an_order_of_several_customers_is_refused(client, lines):
    order = [_line(lines), _line(lines, customer_id="55555")]
    response = client.post("/v1/score", json={"lines": order})
    assert response.status_code == 422
    assert "lines[1].customer_id is '55555'" in response.json()["detail"]


@pytest.mark.parametrize(
    "content, field",
    [(b"{not json", "body"), (b"[]", "body"), (b'{"lines": []}', "lines")],
    ids=["not-json", "not-an-object", "no-lines"],
)
def test_malformed_bodies_get_422(client, content, field):
    response = client.post("/v1/score", content=content,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_too_many_lines_get_422(client, lines):
    response = client.post("/v1/score", json={"lines": [_line(lines)] * 301})
    assert response.status_code == 422
    assert "at most 300 items" in response.json()["detail"]


def test_a_large_body_gets_413_declared_or_streamed(client):
    big = b'{"lines": [' + b" " * (600 * 1024) + b"]}"
    response = client.post("/v1/score", content=big,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than 524,288 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit counts the bytes read
        for _ in range(20):
            yield b" " * (64 * 1024)

    response = client.post("/v1/score", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"lines": ' + b"[" * 3_000 + b"]" * 3_000 + b"}", "nested too deeply"),
        (b'{"lines": [{"invoice": "\xff"}]}', "send JSON encoded in UTF-8"),
    ],
    ids=["nested-array", "nested-lines", "not-utf-8"],
)
def test_an_unreadable_body_is_said_why(client, content, message):
    response = client.post("/v1/score", content=content,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert message in detail
    if message != "send JSON encoded in UTF-8":  # valid UTF-8: not blamed
        assert "UTF-8" not in detail
    assert not any(leak in response.text for leak in LEAKS)


def test_an_order_without_purchase_gets_422(client, lines):
    postage = _line(lines, stock_code="POST", description="POSTAGE")
    response = client.post("/v1/score", json={"lines": [postage]})
    assert response.status_code == 422
    assert "no purchase line is left after cleaning" in response.json()["detail"]
    response = client.post("/v1/score/batch", json={"lines": [postage]})
    assert response.status_code == 422


def test_an_unexpected_error_answers_500_without_detail(client, app, lines,
                                                        monkeypatch):
    def broken(order_lines):
        raise RuntimeError("secret at /srv/models/internal.py line 3")

    monkeypatch.setattr(app.state.scorer, "score_batch", broken)
    response = client.post("/v1/score/batch", json={"lines": [_line(lines)]})
    assert response.status_code == 500
    assert response.json() == {"detail": INTERNAL_ERROR, "errors": []}
    assert "secret" not in response.text


# ---------------------------------------------------------- authentication
@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": OTHER_KEY}, {"Authorization": f"Bearer {OTHER_KEY}"},
                {"Authorization": f"Basic {KEY}"}],
    ids=["no-key", "wrong-key", "wrong-bearer", "not-bearer"],
)
def test_without_a_valid_key_only_401(app, lines, headers):
    with TestClient(app, raise_server_exceptions=False) as anonymous:
        for body in ({"lines": [_line(lines)]}, {"lines": "not a list"}):
            response = anonymous.post("/v1/score", json=body, headers=headers)
            assert response.status_code == 401
            assert response.json()["detail"].startswith("missing or invalid API key")
            assert response.json()["errors"] == []
        assert anonymous.get("/metrics", headers=headers).status_code == 401
        assert anonymous.post("/v1/score/batch", content=b"x" * 10**6,
                              headers=headers).status_code == 401


def test_a_valid_key_in_either_header_is_accepted(app, lines):
    with TestClient(app, raise_server_exceptions=False) as anonymous:
        body = {"lines": [_line(lines)]}
        assert anonymous.post("/v1/score", json=body,
                              headers={"X-API-Key": KEY}).status_code == 200
        assert anonymous.post("/v1/score", json=body, headers={
            "Authorization": f"Bearer {KEY}"}).status_code == 200
        for path in ("/health/live", "/health/ready", "/openapi.json", "/docs"):
            assert anonymous.get(path).status_code == 200, path
        schema = anonymous.get("/openapi.json").json()
        assert "APIKeyHeader" in schema["components"]["securitySchemes"]
        assert "401" in schema["paths"]["/v1/score"]["post"]["responses"]


def test_without_keys_the_service_is_open(model_dir, lines):
    with TestClient(create_app(model_dir)) as anonymous:
        response = anonymous.post("/v1/score", json={"lines": [_line(lines)]})
        assert response.status_code == 200
        schema = anonymous.get("/openapi.json").json()
        assert "securitySchemes" not in schema.get("components", {})


def test_keys_come_from_a_file_or_the_environment(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# rotated monthly\n{KEY}\n\n  {OTHER_KEY}  \n")
    assert load_api_keys(path, environ={"SHOPSEG_API_KEYS": "ignored"}) == (
        KEY, OTHER_KEY
    )
    assert load_api_keys(environ={"SHOPSEG_API_KEYS": f"{KEY}, {OTHER_KEY}"}) == (
        KEY, OTHER_KEY
    )
    assert load_api_keys(environ={}) is None


@pytest.mark.parametrize(
    "text, env, match",
    [("# none yet\n", None, "holds no API key"),
     ("short\n", None, "at least 16"),
     (None, "", "holds no API key"),
     (None, "key with spaces 0123456789", "without spaces")],
    ids=["empty-file", "short-key", "empty-variable", "spaces"],
)
def test_unusable_keys_stop_the_service(tmp_path, text, env, match):
    path = None
    if text is not None:
        path = tmp_path / "keys"
        path.write_text(text)
    environ = {} if env is None else {"SHOPSEG_API_KEYS": env}
    with pytest.raises(ShopsegError, match=match):
        load_api_keys(path, environ=environ)
    with pytest.raises(InputFileError, match="cannot be read"):
        load_api_keys(tmp_path / "missing")


# ------------------------------------------------------------ model folder
def _copy_model(model_dir, tmp_path):
    import shutil

    target = tmp_path / "model"
    shutil.copytree(model_dir / "model", target)
    return target


def _rehash(folder, name):
    import hashlib

    card_path = folder / "model_card.json"
    card = json.loads(card_path.read_text())
    card["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    card_path.write_text(json.dumps(card))


@pytest.mark.parametrize(
    "damage, match",
    [
        ("missing", "holds no first-order model"),
        ("card", "cannot be loaded .JSONDecodeError"),
        ("changed", "SHA-256 differs"),
        ("garbage", "cannot be loaded"),
    ],
    ids=["missing", "corrupt-card", "changed-file", "corrupt-rehashed"],
)
def test_a_bad_model_folder_stops_the_service_at_start(model_dir, tmp_path,
                                                       damage, match):
    folder = _copy_model(model_dir, tmp_path)
    if damage == "missing":
        folder = tmp_path / "nowhere"
    elif damage == "card":
        (folder / "model_card.json").write_text("{")
    elif damage == "changed":
        (folder / "first_order_model.skops").write_bytes(b"not a model")
    else:
        (folder / "first_order_model.skops").write_bytes(b"not a model")
        _rehash(folder, "first_order_model.skops")
    with pytest.raises((InputFileError, ModelInputError), match=match):
        create_app(folder)


def test_serve_exits_2_with_one_paragraph(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--model", str(tmp_path / "nowhere")])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "holds no first-order model" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
def test_serve_on_a_port_in_use_exits_2_before_announcing(model_dir, capsys,
                                                          workers):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as stopped:
            main(["serve", "--model", str(model_dir), "--port", str(port),
                  "--workers", str(workers)])
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    assert "Serving" not in out
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert "--port" in err and "stop that process" in err
    assert "Traceback" not in err and "Errno" not in err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
def test_shopseg_serve_answers_on_loopback(model_dir, lines, tmp_path, workers):
    port = _free_port()
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "shopseg", "serve", "--model", str(model_dir),
         "--port", str(port), "--workers", str(workers), "--api-key-file",
         str(keys)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "SHOPSEG_API_KEYS": ""},  # the file wins
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "not ready within 120 s"
            try:
                with urllib.request.urlopen(base + "/health/ready", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        request = urllib.request.Request(
            base + "/v1/score",
            data=json.dumps({"lines": [_line(lines)]}).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": KEY},
        )
        for _ in range(3):
            with urllib.request.urlopen(request, timeout=60) as response:
                assert json.load(response)["customer_id"] == "12001"
        metrics = urllib.request.Request(base + "/metrics",
                                         headers={"X-API-Key": KEY})
        with urllib.request.urlopen(metrics, timeout=10) as response:
            text = response.read().decode()
        # With two workers the counts of both are added up.
        assert ('shopseg_http_requests_total{method="POST",route="/v1/score",'
                'status="200"} 3.0') in text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------- contract
OPERATIONS = [("/v1/score", "POST"), ("/v1/score/batch", "POST"),
              ("/health/live", "GET"), ("/health/ready", "GET"),
              ("/metrics", "GET")]


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


#: The checks: no 5xx, and statuses, media types, headers and bodies as the
#: document says. Not "schema-valid data is accepted": the service checks
#: what JSON Schema cannot say (a day that exists, one customer per order),
#: so a schema-valid request may rightly get 422.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.mark.parametrize(
    "path, method, mode",
    [(p, m, GenerationMode.POSITIVE) for p, m in OPERATIONS]
    + [(p, m, GenerationMode.NEGATIVE) for p, m in OPERATIONS if m == "POST"],
    ids=[f"{m} {p}" for p, m in OPERATIONS]
    + [f"{m} {p} invalid" for p, m in OPERATIONS if m == "POST"],
)
def test_the_openapi_contract_holds(api_schema, path, method, mode):
    """Requests generated from the service's own OpenAPI document, valid and
    invalid: no 5xx, every status and body as documented, nothing leaked."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call_and_validate(headers={"X-API-Key": KEY},
                                          checks=CHECKS)
        assert not any(leak in response.text for leak in LEAKS)

    check()


# ------------------------------------------------------- fast predictions
def test_compiled_trees_predict_as_scikit_learn_bit_for_bit(model_dir, lines):
    """The compiled trees that batch and service predict with give
    scikit-learn's own numbers, for many customers and for one."""
    from shopseg.predict import first_order_features
    from shopseg.predict._compiled import CompiledModel

    saved = load_model(model_dir)
    compiled = CompiledModel(saved.model)
    assert compiled.compiled_  # no model fell back to scikit-learn
    import duckdb

    con = duckdb.connect(str(model_dir / "shopseg.duckdb"), read_only=True)
    features = first_order_features(con, saved.products, saved.categories)
    con.close()
    expected = saved.model.predict(features)
    got = compiled.predict(features)
    assert list(got) == list(expected.columns)
    for column in expected:
        np.testing.assert_array_equal(got[column], expected[column].to_numpy(),
                                      column)
    for i in (0, len(features) // 2, len(features) - 1):
        one = compiled.predict(features.iloc[[i]])
        for column in expected:
            assert one[column][0] == expected[column].iloc[i], column


def _featurised_both_ways(scorer, order_lines):
    """An order's features from the NumPy path (None when it does not
    apply) and from SQL: the scorer's statement, or the whole pipeline
    for an order with a cancellation to net."""
    from shopseg.predict._order_features import order_features
    from shopseg.predict._score import _order_table, has_cancellation

    frame = pd.DataFrame(order_lines)
    frame["invoice_date"] = pd.to_datetime(frame["invoice_date"])
    order = _order_table({name: frame[name].tolist() for name in COLUMNS})
    assert order is not None
    if has_cancellation(frame["invoice"]):
        sql = _pipeline_features(scorer.saved, frame)
    else:
        sql = scorer._features(order)
    return order_features(order, scorer._products), sql


def _pipeline_features(saved, frame):
    """The features ``shopseg predict`` computes for the lines of ``frame``,
    with an order of another customer so that some line is kept."""
    import duckdb

    from shopseg.clean import clean_lines
    from shopseg.predict import first_order_features
    from shopseg.predict._score import _later_lines, _with_unknown_products
    from shopseg.read import read_files

    anchor = frame.iloc[[0]].assign(invoice="1", customer_id="anchor", quantity=1)
    with tempfile.TemporaryDirectory() as scratch, duckdb.connect() as con:
        path = Path(scratch) / "order.parquet"
        pd.concat([anchor, frame], ignore_index=True).to_parquet(path)
        read_files([path], con)
        clean_lines(con)
        products = _with_unknown_products(con, saved)
        features = first_order_features(con, products, saved.categories)
        features = features[features.customer_id != "anchor"]
        later = _later_lines(con, features)
    counts = dict(zip(later.customer_id, later.later_lines))
    columns = {name: features[name].to_numpy() for name in features}
    return columns, [counts.get(c, 0) for c in features.customer_id]


def _assert_same_features(fast, sql):
    (features, later), (expected, expected_later) = fast, sql
    assert list(features) == list(expected)
    for name, values in expected.items():
        got = features[name]
        if name in ("first_day", "first_order_at"):
            got = got.astype("datetime64[us]")
            values = np.asarray(values).astype("datetime64[us]")
        if np.asarray(values).dtype == object:
            assert list(got) == list(values), name
        else:
            # Bit for bit: equal floats, not close ones.
            np.testing.assert_array_equal(
                np.asarray(got, dtype=float), np.asarray(values, dtype=float), name
            )
    np.testing.assert_array_equal(later, expected_later)


def test_numpy_features_equal_the_sql_bit_for_bit(model_dir, lines):
    """Every customer's first days, and orders that meet the cleaning rules,
    featurised in NumPy give the numbers of the SQL statement exactly."""
    from shopseg.predict import OrderScorer

    scorer = OrderScorer(load_model(model_dir))
    orders = _first_orders(lines, sorted(lines.customer_id.unique()))
    first = orders["12003"][0]
    orders["rules"] = [
        dict(first, customer_id="12003.0"),  # read as 12003
        dict(first, customer_id="12003"),  # a copy of the line: a duplicate
        dict(first, stock_code="POST", price=18.0),  # postage
        dict(first, stock_code="gift_0001_20"),  # a voucher, by its pattern
        dict(first, price=0.0),
        dict(first, quantity=-2),  # a write-off
        dict(first, invoice="A563186", stock_code="B"),  # an accounting entry
        dict(first, customer_id="nan"),  # no customer
        dict(first, quantity=3, invoice_date="2011-12-01T09:00:00"),  # later
    ]
    orders["two customers"] = orders["12004"] + orders["12005"][::-1]
    # Cancellations, netted first in, first out: part of a purchase, more
    # than was bought, a return of something bought before, and a whole
    # first order cancelled (the next day's order is then the first).
    order = orders["12006"]
    cancel = dict(order[0], invoice="C900001", quantity=-1)
    orders["part cancelled"] = order + [cancel]
    orders["over cancelled"] = order + [dict(cancel, quantity=-500)]
    orders["return"] = order + [dict(cancel, stock_code=order[-1]["stock_code"],
                                     invoice_date="2009-12-01T09:00:00")]
    orders["all cancelled"] = order + [
        dict(line, invoice="C900002", quantity=-line["quantity"])
        for line in order
    ]
    try:
        for name, order_lines in orders.items():
            fast, sql = _featurised_both_ways(scorer, order_lines)
            assert fast is not None, name
            _assert_same_features(fast, sql)
        # Where the NumPy path does not apply, it says so.
        for changes in ({"stock_code": "NEW-1"}, {"customer_id": " 12003"},
                        {"country": "Fran\u00e7e"}, {"customer_id": ""}):
            fast, _ = _featurised_both_ways(scorer, [dict(first, **changes)])
            assert fast is None, changes
    finally:
        scorer.close()


def test_predict_takes_the_date_format_and_prints_warnings_plainly(
    tmp_path, run_cli, model_dir, lines
):
    """A warning is one line on the terminal, and the option it advises
    exists: ``--date-format`` on ``shopseg predict`` too."""
    line = dict(_one_order(lines)[0], invoice_date="5/9/2011 10:00")
    path = tmp_path / "orders.csv"
    pd.DataFrame([line]).to_csv(path, index=False)
    output = tmp_path / "predictions.csv"
    status, out, err = run_cli(["predict", path, "--model", model_dir,
                                "--output", output])
    assert status == 0, err
    assert "warning: orders.csv: every date" in err and "--date-format" in err
    assert "AmbiguousDateWarning" not in err and ".py:" not in err
    assert "2011-05-09" in output.read_text()
    status, out, err = run_cli(["predict", path, "--model", model_dir,
                                "--output", output, "--date-format", "day-first"])
    assert status == 0, err
    assert "warning" not in err
    assert "2011-09-05" in output.read_text()
