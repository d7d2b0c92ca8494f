"""``latticenas pipeline compile|run|submit`` (run --local end to end: test_pipeline_e2e.py)."""

from __future__ import annotations

import argparse
import shutil

import pytest
import yaml
from pipeline_helpers import REPO, TINY_SPACE

from latticenas.cli import run
from latticenas.errors import LatticeNASError
from latticenas.pipeline import cli
from latticenas.pipeline.build import COMPILED_FILE, submit


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="latticenas")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def call(*argv: str) -> int:
    args = parse(*argv)
    return run(args.func, args)


def test_compile_check_passes_on_the_committed_file(capsys):
    assert call("pipeline", "compile", "--check") == 0
    assert "OK" in capsys.readouterr().out


def test_compile_writes_and_check_finds_drift(tmp_path, capsys):
    target = tmp_path / "p.yaml"
    assert call("pipeline", "compile", "--output", str(target)) == 0
    assert target.read_text() == (REPO / COMPILED_FILE).read_text()
    target.write_text(target.read_text().replace("latticenas-component", "other-component"))
    assert call("pipeline", "compile", "--check", "--output", str(target)) == 1
    assert "drift" in capsys.readouterr().err
    assert call("pipeline", "compile", "--output", str(tmp_path / "gpu.yaml"), "--accelerator", "gpu") == 0
    assert yaml.safe_load_all((tmp_path / "gpu.yaml").read_text()).__next__()["pipelineInfo"]["name"] == "latticenas-gpu"


def test_run_needs_local():
    with pytest.raises(SystemExit):
        parse("pipeline", "run")
    args = parse("pipeline", "run", "--local", "--max-trials", "2")
    assert args.max_trials == 2 and args.data_uri == "example:ames" and args.target == "price"


class FakeKfpClient:
    """Stands in for kfp.Client: records the run it is asked to start."""

    instances: list[FakeKfpClient] = []

    def __init__(self, host=None, **kwargs):
        self.host, self.kwargs, self.runs = host, kwargs, []
        FakeKfpClient.instances.append(self)

    def create_run_from_pipeline_package(self, pipeline_file, arguments=None, **kwargs):
        self.runs.append((pipeline_file, arguments, kwargs))
        return type("RunPipelineResult", (), {"run_id": "run-123"})()


@pytest.fixture
def kfp_health():
    """A real HTTP server with Kubeflow Pipelines' health endpoint (what submit probes first)."""
    server = _server(lambda path: (200, {"commit_sha": "test"}) if path == "/apis/v2beta1/healthz" else (404, {}))
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _server(answer):
    """A real HTTP server on 127.0.0.1 answering each request with ``answer(path)``: (status, JSON)."""
    import http.server
    import json
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            status, payload = answer(self.path)
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_submit_command_passes_the_parameters(monkeypatch, tmp_path, capsys, kfp_health):
    import kfp

    FakeKfpClient.instances.clear()
    monkeypatch.setattr(kfp, "Client", FakeKfpClient)
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE)
    code = call("pipeline", "submit", "--host", kfp_health, "--registry", "gs://models/latticenas",
                "--data", "gs://data/houses.csv", "--target", "price", "--accelerator", "gpu", "--backend", "katib",
                "--trial-output-root", "gs://scratch/trials", "--namespace", "team-a", "--search-space", str(space),
                "--max-trials", "12", "--param", "seed=7", "--experiment", "nas", "--run-name", "first")
    assert code == 0
    assert f"run run-123 started on {kfp_health}" in capsys.readouterr().out
    [client] = FakeKfpClient.instances
    assert client.host == kfp_health and client.kwargs == {"namespace": "team-a"}
    [(package, arguments, options)] = client.runs
    assert package == str(REPO / COMPILED_FILE)
    assert arguments == {
        "registry_target": "gs://models/latticenas", "data_uri": "gs://data/houses.csv", "target": "price",
        "accelerator": "gpu", "search_backend": "katib", "trial_output_root": "gs://scratch/trials",
        "katib_namespace": "team-a", "search_space": TINY_SPACE, "max_trials": 12, "seed": 7,
    }
    assert options == {"run_name": "first", "experiment_name": "nas", "namespace": "team-a",
                       "service_account": "latticenas-pipeline"}


def test_submit_library_call(tmp_path):
    client = FakeKfpClient()
    package = tmp_path / "p.yaml"
    shutil.copy(REPO / COMPILED_FILE, package)
    assert submit("http://h", {"registry_target": "gs://m"}, package_path=package, client=client, service_account=None) == "run-123"
    assert client.runs[0][0] == str(package) and client.runs[0][2]["service_account"] is None
    with pytest.raises(LatticeNASError, match="no compiled pipeline"):
        submit("http://h", package_path=tmp_path / "missing.yaml", client=client)


def test_bad_params_are_one_line_errors(monkeypatch, capsys):
    import kfp

    monkeypatch.setattr(kfp, "Client", FakeKfpClient)
    assert call("pipeline", "submit", "--host", "h", "--registry", "gs://m", "--param", "seed") == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    for bad, message in ((("--time-budget", "5x"), "time budget"), (("--param", "val_fraction=1.5"), "val_fraction"),
                         (("--param", "search_backend=slurm"), "search_backend: one of katib, local, mop")):
        assert call("pipeline", "submit", "--host", "h", "--registry", "gs://m", *bad) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err and "Traceback" not in err


def test_arguments_are_checked_against_the_pipeline(tmp_path):
    from latticenas.pipeline.build import typed_arguments

    package = REPO / COMPILED_FILE
    assert typed_arguments(package, {"max_trials": "3", "val_fraction": "0.2", "target": "007"}) == {
        "max_trials": 3, "val_fraction": 0.2, "target": "007"}
    with pytest.raises(LatticeNASError, match="no parameter 'max_trial'"):
        typed_arguments(package, {"max_trial": 3})
    with pytest.raises(LatticeNASError, match="parameter seed: 'x' is not an integer"):
        typed_arguments(package, {"seed": "x"})


def test_the_dispatcher_can_host_the_command_group(capsys):
    import latticenas.cli as dispatcher

    assert dispatcher.main(["pipeline", "compile", "--check"]) == 0
    assert "OK" in capsys.readouterr().out


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_submit_to_an_unreachable_endpoint_is_one_error_line(capsys):
    host = f"http://127.0.0.1:{_closed_port()}"
    assert call("pipeline", "submit", "--host", host, "--registry", "gs://m") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: submitting the run to Kubeflow Pipelines at {host} failed")
    assert "--host" in err and "Traceback" not in err


def test_submit_to_an_endpoint_that_refuses_names_its_answer(capsys):
    """A real HTTP server that is not Kubeflow Pipelines: every request gets a JSON 404."""
    server = _server(lambda path: (404, {"message": "no such API here"}))
    try:
        host = f"http://127.0.0.1:{server.server_address[1]}"
        assert call("pipeline", "submit", "--host", host, "--registry", "gs://m") == 2
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 404: no such API here" in err and "Traceback" not in err
