"""examples/remote against a two-node cluster of real processes: the
client greets n1, and reaches queues on both nodes, n2's over a direct link.
Usage: remote_example_test.py ACTORMQ_BINARY REMOTE_CLIENT."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test  # noqa: E402

CLIENT = None


class RemoteExample(unittest.TestCase):
    def test_queues_on_both_nodes(self):
        c = cluster_test.Cluster(["n1", "n2"])
        try:
            names = ["r%d" % i for i in range(8)]
            port = int(c.members.split(",")[0].rsplit(":", 1)[1])
            out = subprocess.run([CLIENT, "127.0.0.1", str(port)] + names,
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            lines = out.stdout.splitlines()
            self.assertEqual(len(lines), len(names), out.stdout)
            self.assertTrue(any("node n1 (the greeted node)" in x
                                for x in lines), out.stdout)
            self.assertTrue(any("node n2 (a direct link)" in x
                                for x in lines), out.stdout)
            # The messages were acked: every queue is empty, whichever node
            # is asked.
            for name in names:
                status, info = c[1].json("GET", "/queues/" + name)
                self.assertEqual(status, 200)
                self.assertEqual(info["stats"]["ready"]
                                 + info["stats"]["in_flight"], 0)
        finally:
            c.stop()


if __name__ == "__main__":
    cluster_test.BINARY = sys.argv.pop(1)
    CLIENT = sys.argv.pop(1)
    unittest.main()
