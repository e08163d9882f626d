"""Run the service on uvicorn, in one process or several."""

import errno
import json
import os
import shutil
import socket
import tempfile

import uvicorn

from ..exceptions import ShopsegError
from ._app import create_app, load_service_model
from ._auth import load_api_keys
from ._scorer import Scorer

#: Environment variable handing the settings to worker processes (never keys:
#: the workers read them from the same file or variable).
CONFIG_ENV = "SHOPSEG_SERVICE_CONFIG"

#: The fix for the errors met most often when listening on an address.
_LISTEN_ADVICE = {
    errno.EADDRINUSE: "another process listens on it: choose another port "
    "with --port, or stop that process",
    errno.EACCES: "ports below 1024 need administrator rights: choose --port "
    "1024 or above",
    errno.EADDRNOTAVAIL: "the host is not an address of this machine: choose "
    "--host 127.0.0.1, or 0.0.0.0 for every interface",
}


def check_address(host, port):
    """Check that the service can listen on ``host:port``.

    A socket is bound there as uvicorn binds it, and closed at once. Without
    this check uvicorn would start, log its own error and exit with status 3
    after the service had been announced. A process that takes the port
    between the check and uvicorn's own bind still meets uvicorn's error.

    Parameters
    ----------
    host : str
    port : int

    Raises
    ------
    ShopsegError
        When the address is in use, refused or not this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        advice = _LISTEN_ADVICE.get(exc.errno)
        reason = exc.strerror or str(exc)
        raise ShopsegError(
            f"cannot listen on {_address(host, port)}: {reason}"
            + (f"; {advice}" if advice else "")
        ) from exc


def _address(host, port):
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve(
    model_dir,
    host="127.0.0.1",
    port=8000,
    workers=1,
    api_key_file=None,
    on_start=None,
    **limits,
):
    """Serve a model over HTTP until interrupted.

    The model, the API keys and the address are checked here, before
    uvicorn starts and before ``on_start``, so that a missing or damaged
    model folder or a port in use stops the command with one clear error.
    With ``workers > 1`` each worker process loads the model itself and
    ``/metrics`` adds up all workers.

    Parameters
    ----------
    model_dir : str or Path
        The model folder, or the ``--out`` folder of ``shopseg run``.
    host : str, default="127.0.0.1"
    port : int, default=8000
    workers : int, default=1
        Worker processes.
    api_key_file : str or Path, default=None
        File of API keys; without it, ``$SHOPSEG_API_KEYS``; without both,
        no key is required.
    on_start : callable, default=None
        Called with a dict (``model_version``, ``created_at``, ``url``,
        ``workers``, ``api_keys``) once the model and the address are
        checked.
    **limits
        Passed to :func:`create_app` (``max_lines``, ``max_body_bytes``...).

    Raises
    ------
    ShopsegError
        When the model folder or the API keys are unusable, or the service
        cannot listen on ``host:port``.
    """
    keys = load_api_keys(api_key_file)
    saved = load_service_model(model_dir)
    check_address(host, port)  # after the slow load: less time for a race
    info = {
        "url": f"http://{_address(host, port)}",
        "workers": workers,
        "api_keys": keys is not None,
    }
    if workers == 1:
        app = create_app(saved, api_keys=keys, **limits)
        scorer = app.state.scorer
        info.update(model_version=scorer.version, created_at=scorer.created_at)
        if on_start is not None:
            on_start(info)
        uvicorn.run(app, host=host, port=port, access_log=False)
        return

    check = Scorer(saved)
    check.start()  # the workers would otherwise fail one by one
    check.close()
    info.update(model_version=check.version, created_at=check.created_at)
    del saved, check
    config = {
        "model_dir": str(model_dir),
        "api_key_file": None if api_key_file is None else str(api_key_file),
        "limits": limits,
    }
    metrics_dir = tempfile.mkdtemp(prefix="shopseg-metrics-")
    previous = {name: os.environ.get(name)
                for name in (CONFIG_ENV, "PROMETHEUS_MULTIPROC_DIR")}
    os.environ[CONFIG_ENV] = json.dumps(config)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        if on_start is not None:
            on_start(info)
        uvicorn.run(
            "shopseg.service._server:app_from_environment", factory=True,
            host=host, port=port, workers=workers, access_log=False,
        )
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(metrics_dir, ignore_errors=True)


def app_from_environment():
    """The app of one worker process, from the settings :func:`serve` left."""
    config = json.loads(os.environ[CONFIG_ENV])
    keys = load_api_keys(config["api_key_file"])
    return create_app(config["model_dir"], api_keys=keys, **config["limits"])
