"""Run the service on uvicorn, in one process or several."""

import json
import os
import shutil
import tempfile

import uvicorn

from ._app import create_app, load_service_model
from ._auth import load_api_keys
from ._scorer import Scorer

#: Environment variable handing the settings to worker processes (never keys:
#: the workers read them from the same file or variable).
CONFIG_ENV = "SHOPSEG_SERVICE_CONFIG"


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

    The model and the API keys are checked here, before uvicorn starts, so
    that a missing or damaged model folder stops the command with one clear
    error. With ``workers > 1`` each worker process loads the model itself
    and ``/metrics`` adds up all workers.

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
        ``workers``, ``api_keys``) once the model is checked.
    **limits
        Passed to :func:`create_app` (``max_lines``, ``max_body_bytes``...).

    Raises
    ------
    ShopsegError
        When the model folder or the API keys are unusable.
    """
    keys = load_api_keys(api_key_file)
    saved = load_service_model(model_dir)
    info = {
        "url": f"http://{host}:{port}",
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
