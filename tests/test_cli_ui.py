"""``memtech ui`` and the command line's own behaviour: the UI replaces the process, a busy port is a clean
error, a closed pipe is no traceback, and every option says what it does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from memtech import cli, tracking


@pytest.fixture
def project_store(tmp_path, monkeypatch):
    monkeypatch.setenv(tracking.RUNS_DIR_ENV, str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ui_execs_the_command_so_its_pid_and_exit_status_are_the_servers(tmp_path):
    """A stand-in for MLflow reports its pid (and whether MLflow's job runner is on) and exits 7: the same pid
    as the process started as `memtech ui` (signals reach it directly) and the same exit status (a failing
    server is no success)."""
    script = textwrap.dedent(f"""
        import sys
        from memtech import cli
        stand_in = [sys.executable, "-c", "import os, sys; print('pid', os.getpid(), os.environ.get(sys.argv[1]), flush=True); "
                    "sys.exit(7)", cli.UI_JOBS_ENV]
        cli.ui_command = lambda uri, port, host: stand_in
        sys.exit(cli.main(["ui", "--port", "{_free_port()}", "--tracking-uri", "sqlite:///{tmp_path}/mlflow.db"]))
    """)
    env = {k: v for k, v in os.environ.items() if k != cli.UI_JOBS_ENV}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 7, err
    assert "MLflow UI for sqlite:///" in out
    # MLflow's job runner would outlive a stopped server, and memtech has no jobs for it
    assert f"pid {proc.pid} false" in out.splitlines()


def test_ui_on_a_busy_port_is_a_clean_error_and_starts_nothing(project_store, monkeypatch, capsys):
    def no_exec(*args):
        raise AssertionError(f"nothing may start on a busy port: {args}")

    monkeypatch.setattr(os, "execv", no_exec)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not cli.port_is_free(port)
        assert cli.main(["ui", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memtech: error: --port must be a free port on 127.0.0.1 ")
    assert err.rstrip().endswith(f"got {port}")
    assert cli.port_is_free(port)


def test_ui_print_command_still_prints_without_starting(project_store, monkeypatch, capsys):
    monkeypatch.setattr(os, "execv", lambda *args: pytest.fail("--print-command must not start the UI"))
    assert cli.main(["ui", "--print-command", "--port", "5002"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.endswith("--host 127.0.0.1 --port 5002") and f"sqlite:///{project_store}/mlflow.db" in out
    assert cli.main(["ui", "--port", "70000"]) == 2
    assert "--port must be a TCP port from 1 to 65535, got 70000" in capsys.readouterr().err


def test_ui_stays_on_this_machine_unless_a_host_is_given_and_then_warns(project_store, monkeypatch, capsys):
    monkeypatch.setattr(os, "execv", lambda *args: pytest.fail("--print-command must not start the UI"))
    assert cli.main(["ui", "--print-command"]) == 0
    captured = capsys.readouterr()
    assert "--host 127.0.0.1 " in captured.out and captured.err == ""
    assert cli.main(["ui", "--print-command", "--host", "0.0.0.0"]) == 0
    captured = capsys.readouterr()
    assert "--host 0.0.0.0 " in captured.out
    assert captured.err.startswith("memtech: warning: the MLflow UI will listen on 0.0.0.0: ")
    assert "no authentication" in captured.err
    for loopback in ("localhost", "::1", "127.0.0.2"):
        assert cli.exposure_warning(loopback) is None, loopback
    assert cli.exposure_warning("my-laptop.example") is not None  # a name may resolve to any interface


def test_ui_on_a_host_that_is_not_this_machine_is_a_clean_error(project_store, monkeypatch, capsys):
    monkeypatch.setattr(os, "execv", lambda *args: pytest.fail("nothing may start on a bad host"))
    assert cli.main(["ui", "--host", "no such host!"]) == 2
    assert capsys.readouterr().err.startswith("memtech: error: --host must be an address or host name of this machine")
    # a documentation-only address (RFC 5737): well formed, but no interface of this machine has it
    assert cli.main(["ui", "--host", "192.0.2.1", "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memtech: error: --host must be an address of this machine") and "'192.0.2.1'" in err


def test_a_closed_pipe_is_no_traceback():
    """`memtech describe stt_mram | head -1`: the reader leaves early; the command exits as SIGPIPE would."""
    proc = subprocess.Popen([sys.executable, "-m", "memtech.cli", "describe", "stt_mram"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the card is written: every write meets a closed pipe
    try:
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141


@pytest.mark.parametrize("command", ["plugins", "describe"])
def test_every_option_has_help(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    help_text = capsys.readouterr().out
    json_line = next(line for line in help_text.splitlines() if line.strip().startswith("--json"))
    assert len(json_line.split()) > 1, help_text
    parser = cli.build_parser()
    for sub in parser._subparsers._group_actions[0].choices.values():  # noqa: SLF001 - argparse has no public walk
        for action in sub._actions:  # noqa: SLF001
            assert action.help, f"{sub.prog} {action.option_strings or action.dest} has no help"
