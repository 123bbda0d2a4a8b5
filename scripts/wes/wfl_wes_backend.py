"""wes-service's cwl_runner backend, extended where the stock one falls short.

The HTTP API, request parsing, attachments, run staging and logs are wes-service's own
(`wes_service.cwl_runner`). Two things change, because the tests (and real use) need them:

* A run's exit code comes from a file that the runner wrapper (`wfl-cwl-runner`) writes.
  The stock backend learns it only through `waitpid` on its own child, so after the server
  restarts every run that was going is reported EXECUTOR_ERROR (exit 255): a false failure.
* Cancel works. The stock `Workflow.cancel` does nothing; here it kills the run's session
  (the wrapper starts one), and the run reports CANCELING, then CANCELED.

Start: WFL_CWL_RUNNER=cwltool wes-server --backend=wfl_wes_backend --opt runner=.../wfl-cwl-runner
(with this folder on PYTHONPATH).
"""

import os
import signal

from wes_service import cwl_runner


class Workflow(cwl_runner.Workflow):
    def _pid(self):
        try:
            with open(os.path.join(self.workdir, "pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def getstate(self):
        canceled = os.path.exists(os.path.join(self.workdir, "canceled"))
        pid = self._pid()
        if pid is not None:
            try:
                os.waitpid(pid, os.WNOHANG)  # reap our own child; after a restart it is not ours
            except ChildProcessError:
                pass
        exit_file = os.path.join(self.workdir, "exit_code")
        if os.path.exists(exit_file):
            with open(exit_file) as f:
                code = int(f.read().strip() or "255")
            if canceled:
                return "CANCELED", code
            return ("COMPLETE", 0) if code == 0 else ("EXECUTOR_ERROR", code)
        alive = False
        if pid is not None:
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                pass
        if alive:
            return ("CANCELING" if canceled else "RUNNING"), -1
        if canceled:
            return "CANCELED", -1
        # The runner died without recording an exit code: the server's failure, not the tool's.
        return ("SYSTEM_ERROR", -1) if pid is not None else ("QUEUED", -1)

    def cancel(self):
        open(os.path.join(self.workdir, "canceled"), "w").close()
        pid = self._pid()
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


# The stock backend builds `cwl_runner.Workflow` by name: point it at the extended one.
cwl_runner.Workflow = Workflow


def create_backend(app, opts):
    return cwl_runner.CWLRunnerBackend(opts)
