"""Runs examples/sqs (boto3, and the AWS SDK for JavaScript with
sqs-consumer) against the real binary, as users run them against
scripts/run. Usage: examples_test.py ACTORMQ_BINARY EXAMPLES_DIR."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from actormq_process import Server  # noqa: E402

BINARY = None
EXAMPLES = None


class Examples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(BINARY)
        cls.env = dict(os.environ, ACTORMQ_URL=cls.server.url)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def run_example(self, args, cwd):
        out = subprocess.run(args, cwd=cwd, env=self.env, capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout

    def test_python_boto3(self):
        out = self.run_example(
            ["/usr/bin/python3", os.path.join(EXAMPLES, "producer_consumer.py")],
            EXAMPLES)
        self.assertIn("all 10 orders handled", out)
        self.assertIn("handled order 9 (amount 90)", out)

    def test_node_sdk_and_sqs_consumer(self):
        out = self.run_example(["node", "index.mjs"],
                               os.path.join(EXAMPLES, "node"))
        self.assertIn("all 10 emails sent", out)
        self.assertIn("sending email to user9@example.com", out)


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    EXAMPLES = sys.argv.pop(1)
    unittest.main(verbosity=2)
