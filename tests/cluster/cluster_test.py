"""A cluster of real actormq processes on loopback: queues spread over three
nodes and reached through any of them; an owner killed under load and
restarted; a hung owner; a TLS cluster that refuses a foreign certificate;
a node of another protocol version refused.
Usage: cluster_test.py ACTORMQ_BINARY [unittest args]."""

import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "sqs"))
from actormq_process import Server  # noqa: E402

BINARY = None


def free_ports(n):
    """Ports free now on 127.0.0.1, for the nodes' cluster listeners."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Node(Server):
    def __init__(self, name, members, *args, context=None):
        self.name = name
        self.context = context
        super().__init__(BINARY, "--node-name=" + name,
                         "--cluster=" + members, *args)

    @property
    def url(self):
        scheme = "https" if self.context else "http"
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def call(self, method, path, body=None, timeout=30):
        """(status, headers, JSON body) of one request."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout,
                                        context=self.context) as r:
                raw = r.read()
                return r.status, r.headers, raw
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method, path, body=None):
        status, _, raw = self.call(method, path, body)
        return status, json.loads(raw) if raw else None

    def send(self, queue, message):
        return self.json("POST", "/queues/%s/messages" % queue,
                         {"message": message})

    def wait_linked(self, peers, timeout=15):
        """Waits until /metrics shows `peers` links, all up."""
        deadline = time.monotonic() + timeout
        while True:
            _, _, raw = self.call("GET", "/metrics")
            text = raw.decode()
            links = [line for line in text.splitlines()
                     if line.startswith("actormq_cluster_link_up{")]
            if len(links) == peers and all(line.endswith(" 1")
                                           for line in links):
                return
            assert time.monotonic() < deadline, text
            time.sleep(0.1)

    def wait_log(self, text, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return False


class Cluster:
    """Nodes named `names`, each with its `extra` arguments; waits until
    every node is linked to every other, if `linked`."""
    def __init__(self, names, extra=None, context=None, linked=True):
        ports = free_ports(len(names))
        self.members = ",".join("%s@127.0.0.1:%d" % (n, p)
                                for n, p in zip(names, ports))
        self.nodes = [Node(n, self.members, *(extra or {}).get(n, []),
                           context=context) for n in names]
        for node in self.nodes:
            for other in self.nodes:
                if linked and other is not node:
                    assert node.wait_log("linked to " + other.name), \
                        node.log()

    def __getitem__(self, i):
        return self.nodes[i]

    def stop(self):
        for node in self.nodes:
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGCONT)
            node.stop()


def owners(node):
    status, body = node.json("GET", "/queues")
    assert status == 200, body
    return {q["name"]: q["node"] for q in body["queues"]}


def queues_on(cluster, n, prefix):
    """Queue names that start with `prefix`, at least `n` of them owned by
    each node, each holding one message ("first"): made through the first
    node."""
    made = {}
    i = 0
    while min([sum(1 for o in made.values() if o == node.name)
               for node in cluster.nodes]) < n:
        name = "%s%d" % (prefix, i)
        i += 1
        status, _ = cluster[0].send(name, "first")
        assert status == 200
        made[name] = cluster[0].json("GET", "/queues/" + name)[1]["node"]
    return made


class Spread(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(["n1", "n2", "n3"])

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_queues_spread_and_every_node_serves_every_queue(self):
        made = queues_on(self.c, 2, "p1_")
        # Each node sees the whole cluster, with the same owners.
        for node in self.c.nodes:
            seen = owners(node)
            for name, owner in made.items():
                self.assertEqual(seen.get(name), owner, node.name)
        # Enqueue via one node, receive via a second, ack via a third.
        for name in made:
            status, _ = self.c[0].send(name, "via n1 " + name)
            self.assertEqual(status, 200)
            got = []
            while True:
                status, body = self.c[1].json(
                    "POST", "/queues/%s/receive" % name, {"max": 10})
                self.assertEqual(status, 200)
                if not body["messages"]:
                    break
                got += body["messages"]
            self.assertEqual(sorted(m["message"] for m in got),
                             ["first", "via n1 " + name])
            status, body = self.c[2].json(
                "POST", "/queues/%s/ack" % name,
                {"receipts": [m["receipt"] for m in got]})
            self.assertEqual(status, 200)
            self.assertTrue(all(r["ok"] for r in body["results"]), body)
            status, info = self.c[2].json("GET", "/queues/" + name)
            self.assertEqual(info["stats"]["ready"] + info["stats"]["in_flight"],
                             0)
            self.assertEqual(info["node"], made[name])

    def test_long_poll_through_a_node_that_does_not_own_the_queue(self):
        made = queues_on(self.c, 1, "p2_")
        name = next(q for q, o in made.items() if o == "n3")
        self.c[0].json("POST", "/queues/%s/purge" % name)
        result = {}

        def poll():
            result["r"] = self.c[0].json("POST", "/queues/%s/receive" % name,
                                         {"wait_seconds": 10})
        t = threading.Thread(target=poll)
        start = time.monotonic()
        t.start()
        time.sleep(0.5)
        self.assertEqual(self.c[1].send(name, "late")[0], 200)
        t.join()
        self.assertLess(time.monotonic() - start, 5)
        status, body = result["r"]
        self.assertEqual(status, 200)
        self.assertEqual([m["message"] for m in body["messages"]], ["late"])

    def test_metrics_show_own_queues_and_links(self):
        made = queues_on(self.c, 1, "p3_")
        for node in self.c.nodes:
            status, _, raw = node.call("GET", "/metrics")
            self.assertEqual(status, 200)
            text = raw.decode()
            for name, owner in made.items():
                line = 'actormq_messages_ready{queue="%s",node="%s"}' % (
                    name, owner)
                self.assertEqual(line in text, owner == node.name)
            for other in self.c.nodes:
                if other is not node:
                    self.assertIn('actormq_cluster_link_up{peer="%s"} 1'
                                  % other.name, text)

    def test_sqs_list_queues_shows_the_whole_cluster(self):
        made = queues_on(self.c, 1, "p4_")
        req = urllib.request.Request(
            self.c[1].url + "/", data=b"Action=ListQueues&Version=2012-11-05",
            method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(req, timeout=30) as r:
            xml = r.read().decode()
        for name in made:
            self.assertIn("/000000000000/%s</QueueUrl>" % name, xml)

    def test_sqs_send_and_receive_through_nodes_that_do_not_own_the_queue(self):
        made = queues_on(self.c, 1, "sqs_")
        name = next(q for q, o in made.items() if o == "n1")
        self.c[0].json("POST", "/queues/%s/purge" % name)

        def query(node, params):
            req = urllib.request.Request(
                node.url + "/000000000000/" + name,
                data=urllib.parse.urlencode(params).encode(), method="POST")
            req.add_header("Content-Type",
                           "application/x-www-form-urlencoded")
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read().decode()
        sent = query(self.c[1], {"Action": "SendMessage",
                                 "MessageBody": "via n2"})
        self.assertIn("<MessageId>", sent)
        got = query(self.c[2], {"Action": "ReceiveMessage",
                                "WaitTimeSeconds": "5"})
        self.assertIn("<Body>via n2</Body>", got)
        handle = got.split("<ReceiptHandle>")[1].split("</ReceiptHandle>")[0]
        query(self.c[1], {"Action": "DeleteMessage",
                          "ReceiptHandle": handle})
        status, info = self.c[0].json("GET", "/queues/" + name)
        self.assertEqual(info["stats"]["ready"] + info["stats"]["in_flight"],
                         0)

    def test_dead_letters_and_redrives_cross_nodes(self):
        made = queues_on(self.c, 1, "dl_")
        source = next(q for q, o in made.items() if o == "n1")
        dlq = next(q for q, o in made.items() if o == "n2")
        self.c[0].json("POST", "/queues/%s/purge" % source)
        self.c[0].json("POST", "/queues/%s/purge" % dlq)
        status, _ = self.c[2].json("PUT", "/queues/" + source,
                                   {"max_deliveries": 1,
                                    "dead_letter_queue": dlq})
        self.assertEqual(status, 200)
        self.assertEqual(self.c[2].send(source, "doomed")[0], 200)
        status, body = self.c[1].json(
            "POST", "/queues/%s/receive" % source,
            {"visibility_seconds": 0.2})
        self.assertEqual([m["message"] for m in body["messages"]], ["doomed"])
        deadline = time.monotonic() + 10
        while True:
            status, info = self.c[2].json("GET", "/queues/" + dlq)
            if info["stats"]["ready"] == 1:
                break
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        status, info = self.c[0].json("GET", "/queues/" + source)
        self.assertEqual(info["stats"]["ready"] + info["stats"]["in_flight"],
                         0)
        status, body = self.c[2].json("POST", "/queues/%s/redrive" % dlq)
        self.assertEqual((status, body), (200, {"redriven": 1}))
        status, body = self.c[1].json("POST", "/queues/%s/receive" % source)
        self.assertEqual([m["message"] for m in body["messages"]], ["doomed"])

    def test_random_operations_through_random_nodes_match_a_model(self):
        seed = int(os.environ.get("SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        made = queues_on(self.c, 1, "m%d_" % seed)
        for name in made:
            self.c[0].json("POST", "/queues/%s/purge" % name)
        names = sorted(made)
        ready = {q: set() for q in names}
        leased = {q: {} for q in names}
        n = 0
        for step in range(300):
            q = rng.choice(names)
            via = rng.choice(self.c.nodes)
            where = "seed %d, step %d, %s via %s" % (seed, step, q, via.name)
            op = rng.choice(["send", "send", "receive", "ack", "release"])
            if op == "send":
                body = "m%d" % n
                n += 1
                self.assertEqual(via.send(q, body)[0], 200, where)
                ready[q].add(body)
            elif op == "receive":
                status, body = via.json(
                    "POST", "/queues/%s/receive" % q,
                    {"max": rng.randint(1, 3), "visibility_seconds": 600})
                self.assertEqual(status, 200, where)
                for m in body["messages"]:
                    self.assertIn(m["message"], ready[q], where)
                    ready[q].remove(m["message"])
                    leased[q][m["receipt"]] = m["message"]
                if ready[q] and not body["messages"]:
                    self.fail("nothing received from a ready queue: " + where)
            elif leased[q]:
                receipt = rng.choice(sorted(leased[q]))
                path = "/queues/%s/%s" % (q, op)
                status, body = via.json("POST", path, {"receipts": [receipt]})
                self.assertEqual(status, 200, where)
                self.assertTrue(body["results"][0]["ok"], where)
                message = leased[q].pop(receipt)
                if op == "release":
                    ready[q].add(message)
        for q in names:
            status, info = rng.choice(self.c.nodes).json("GET", "/queues/" + q)
            self.assertEqual(info["stats"]["ready"], len(ready[q]),
                             "seed %d, %s" % (seed, q))
            self.assertEqual(info["stats"]["in_flight"], len(leased[q]),
                             "seed %d, %s" % (seed, q))

    def test_a_create_anywhere_lands_on_the_hash_owner(self):
        # The same names land on the same nodes whichever node creates them.
        for i in range(6):
            name = "placed%d" % i
            via = self.c[i % 3]
            self.assertEqual(via.json("PUT", "/queues/" + name, {})[0], 200)
        first = owners(self.c[0])
        again = {}
        for i in range(6):
            name = "placed%d" % i
            self.assertEqual(self.c[(i + 1) % 3].json(
                "DELETE", "/queues/" + name)[0], 200)
            self.assertEqual(self.c[(i + 2) % 3].json(
                "PUT", "/queues/" + name, {})[0], 200)
        again = owners(self.c[1])
        for i in range(6):
            name = "placed%d" % i
            self.assertEqual(first[name], again[name])


class Failures(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(["n1", "n2", "n3"])

    def tearDown(self):
        self.c.stop()

    def test_owner_killed_under_load(self):
        made = queues_on(self.c, 2, "p5_")
        acked = {name: set() for name in made}
        stop = threading.Event()
        slow = []
        lock = threading.Lock()

        def load(names, k):
            n = 0
            while not stop.is_set():
                for name in names:
                    body = "%s-%d-%d" % (name, k, n)
                    n += 1
                    start = time.monotonic()
                    try:
                        status, _ = self.c[0].send(name, body)
                    except OSError:
                        continue
                    took = time.monotonic() - start
                    with lock:
                        if status == 200:
                            acked[name].add(body)
                        elif took > 5:
                            slow.append(took)

        names = list(made)
        threads = [threading.Thread(target=load, args=(names[i::2], i))
                   for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(1)
        victim = self.c[2]
        victim.kill()
        killed = time.monotonic()
        # Its queues answer 503 with Retry-After within 5 s.
        theirs = [q for q, o in made.items() if o == "n3"]
        others = [q for q, o in made.items() if o != "n3"]
        while True:
            status, headers, _ = self.c[1].call(
                "POST", "/queues/%s/messages" % theirs[0],
                {"message": "probe"})
            if status == 503:
                break
            self.assertLess(time.monotonic() - killed, 5)
        self.assertLess(time.monotonic() - killed, 5)
        self.assertEqual(headers.get("Retry-After"), "1")
        start = time.monotonic()
        self.assertEqual(self.c[1].send(theirs[1], "probe")[0], 503)
        self.assertLess(time.monotonic() - start, 5)
        # The other queues are unaffected.
        for name in others:
            self.assertEqual(self.c[1].send(name, "during")[0], 200)
            acked[name].add("during")
        time.sleep(1)
        victim.start()
        deadline = time.monotonic() + 15
        while self.c[0].send(theirs[0], "back")[0] != 200:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        acked[theirs[0]].add("back")
        victim.wait_linked(2)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(slow, [])
        # Nothing acknowledged is lost.
        for name in made:
            got = set()
            while True:
                status, body = self.c[2].json(
                    "POST", "/queues/%s/receive" % name,
                    {"max": 100, "visibility_seconds": 600})
                self.assertEqual(status, 200)
                if not body["messages"]:
                    break
                got |= {m["message"] for m in body["messages"]}
            self.assertEqual(acked[name] - got, set(), name)

    def test_links_come_back_when_the_node_that_connects_restarts(self):
        # n1 sorts first: it makes the connections to n2 and n3.
        made = queues_on(self.c, 1, "r_")
        first = self.c[0]
        first.kill()
        time.sleep(0.5)
        first.start()
        for node in self.c.nodes:
            node.wait_linked(2)
        for name, owner in made.items():
            for node in self.c.nodes:
                status, info = node.json("GET", "/queues/" + name)
                self.assertEqual((status, info["node"]), (200, owner))

    def test_a_hung_owner_is_noticed_within_the_connection_timeout(self):
        made = queues_on(self.c, 1, "p6_")
        theirs = next(q for q, o in made.items() if o == "n2")
        mine = next(q for q, o in made.items() if o == "n1")
        hung = self.c[1]
        hung.proc.send_signal(signal.SIGSTOP)
        try:
            start = time.monotonic()
            status, headers, _ = self.c[0].call(
                "POST", "/queues/%s/messages" % theirs, {"message": "x"})
            self.assertEqual(status, 503)
            self.assertLess(time.monotonic() - start, 5)
            self.assertTrue(self.c[0].wait_log("lost n2", timeout=1))
            self.assertEqual(self.c[2].send(mine, "fine")[0], 200)
        finally:
            hung.proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 15
        while self.c[0].send(theirs, "back")[0] != 200:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)


class Refusals(unittest.TestCase):
    def test_a_node_of_another_protocol_version_is_refused(self):
        c = Cluster(["n1", "n2"], extra={"n2": ["--cluster-protocol=2"]},
                    linked=False)
        try:
            # n1 connects (its name sorts first): both sides say why.
            self.assertTrue(c[1].wait_log(
                "refused node 'n1' speaks cluster protocol 1, this node 2"))
            self.assertTrue(c[0].wait_log("refused this node"))
            self.assertIn("n2 at 127.0.0.1", c[0].log())
            self.assertNotIn("linked to", c[0].log() + c[1].log())
            # n2's queues cannot be reached from n1; n1's own are served.
            served = 0
            for i in range(20):
                status, body = c[0].send("v%d" % i, "x")
                self.assertIn(status, (200, 503))
                served += status == 200
            self.assertGreater(served, 0)
            self.assertLess(served, 20)
        finally:
            c.stop()

    def test_tls_cluster_refuses_a_foreign_certificate(self):
        with tempfile.TemporaryDirectory() as d:
            def run(cmd):
                subprocess.run(cmd, shell=True, check=True, cwd=d,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)

            def ca(name):
                run("openssl req -x509 -newkey ec -pkeyopt "
                    "ec_paramgen_curve:P-256 -nodes -days 1 -subj '/CN=%s' "
                    "-addext basicConstraints=critical,CA:TRUE -addext "
                    "keyUsage=critical,keyCertSign -keyout %s.key -out %s.pem"
                    % (name, name, name))

            def cert(name, issuer):
                with open(os.path.join(d, name + ".ext"), "w") as f:
                    f.write("subjectAltName=IP:127.0.0.1\n"
                            "extendedKeyUsage=serverAuth,clientAuth\n")
                run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                    "-nodes -subj '/CN=%s' -keyout %s.key -out %s.csr"
                    % (name, name, name))
                run("openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key "
                    "-CAcreateserial -days 1 -extfile %s.ext -out %s.pem"
                    % (name, issuer, issuer, name, name))
                return ["--tls-cert=" + os.path.join(d, name + ".pem"),
                        "--tls-key=" + os.path.join(d, name + ".key"),
                        "--cluster-ca=" + os.path.join(d, "ca.pem")]

            ca("ca")
            ca("foreign")
            extra = {"n1": cert("n1", "ca"), "n2": cert("n2", "ca"),
                     "n3": cert("n3", "foreign")}
            context = ssl.create_default_context(
                cafile=os.path.join(d, "ca.pem"))
            c = Cluster(["n1", "n2", "n3"], extra=extra, context=context,
                        linked=False)
            try:
                self.assertTrue(c[0].wait_log("linked to n2"))
                self.assertTrue(c[1].wait_log("linked to n1"))
                self.assertIn("TLS, verified both ways", c[0].log())
                time.sleep(2)
                for node in c.nodes:
                    self.assertNotIn("linked to n3", node.log())
                self.assertNotIn("linked to", c[2].log())
                # Queues of n1 and n2 work through either; n3's do not.
                seen = {}
                for i in range(24):
                    status, body = c[1].send("t%d" % i, "x")
                    seen[status] = seen.get(status, 0) + 1
                self.assertGreater(seen.get(200, 0), 0)
                self.assertGreater(seen.get(503, 0), 0)
                self.assertEqual(set(seen), {200, 503})
            finally:
                c.stop()


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main()
