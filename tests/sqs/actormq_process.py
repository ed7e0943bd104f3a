"""Runs the real actormq binary for the SDK tests: a process of its own on a
free port, with its data in a temporary directory; killed with SIGKILL and
started again on the same data when a test asks."""

import os
import re
import signal
import subprocess
import tempfile
import time


class Server:
    def __init__(self, binary, *args):
        self.binary = binary
        self.args = list(args)
        self.dir = tempfile.TemporaryDirectory(prefix="actormq-sqs-")
        self.data = os.path.join(self.dir.name, "data")
        self.proc = None
        self.port = None
        self.start()

    def start(self):
        path = os.path.join(self.dir.name, "log")
        seen = os.path.getsize(path) if os.path.exists(path) else 0
        with open(path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--port=0", "--host=127.0.0.1",
                 "--data-dir=" + self.data, "--consumers=0"] + self.args,
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(path, "rb") as f:
                f.seek(seen)
                m = re.findall(rb"listening on [0-9.]+:([0-9]+)", f.read())
            if m:
                self.port = int(m[-1])
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("actormq did not start: " + self.log())

    def log(self):
        with open(os.path.join(self.dir.name, "log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.dir.cleanup()
