"""Run `openstack` commands in forked children of one process that imported the client once.

Starting `.venv/bin/openstack` costs about a second of imports on this machine, and the e2e tests run a
hundred-odd commands. This server imports `openstackclient.shell` (and the Octavia plugin) up front, then
for each request forks a child that calls exactly what the console script calls, `openstackclient.shell.main(
argv)`, with the request's environment and its stdout/stderr going to files. Each command thus still gets a
fresh process, only without the import time.

Protocol: one JSON object per line on stdin, `{"argv": [...], "env": {...}, "timeout": s}`; one line back,
`{"rc": int, "stdout": str, "stderr": str, "timed_out": bool}`. The server has no threads, so fork is safe.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time


def _preload() -> None:
    import keystoneclient.v3.client  # noqa: F401 - the identity look-ups of `--project`
    import octaviaclient.osc.plugin  # noqa: F401
    import octaviaclient.osc.v2.load_balancer  # noqa: F401
    import openstack.connection  # noqa: F401
    import openstackclient.shell  # noqa: F401


def _child(argv: list[str], env: dict[str, str], out_path: str, err_path: str) -> None:
    rc = 1
    try:
        os.environ.clear()
        os.environ.update(env)
        # fd 0 is the server's request pipe: the child must never read it
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, out_path, os.O_WRONLY | os.O_TRUNC),
                                (2, err_path, os.O_WRONLY | os.O_TRUNC)):
            target = os.open(path, flags)
            os.dup2(target, fd)
            os.close(target)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the child
        sys.argv = ["openstack", *argv]
        from openstackclient.shell import main

        rc = int(main(argv) or 0)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # noqa: BLE001 - report anything to the parent as a failed command
        print(f"cli_forkserver: {exc!r}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)


def _run(request: dict[str, object]) -> dict[str, object]:
    argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
    env = {str(k): str(v) for k, v in request["env"].items()}  # type: ignore[attr-defined]
    timeout = float(request.get("timeout", 90))  # type: ignore[arg-type]
    with tempfile.NamedTemporaryFile("rb") as out, tempfile.NamedTemporaryFile("rb") as err:
        pid = os.fork()
        if pid == 0:
            _child(argv, env, out.name, err.name)
        deadline = time.monotonic() + timeout
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        return {"rc": os.waitstatus_to_exitcode(status), "timed_out": timed_out,
                "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}


def main() -> None:
    _preload()
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip():
            sys.stdout.write(json.dumps(_run(json.loads(line))) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
