#!/usr/bin/env python3
"""`make run`: one compressed market day on loopback, with the real programs.

Starts Mosquitto with the project's broker configuration (passwords and the ACL), the
coordinator on SQLite, three simulated sites (each a meter and its BMS in one `meter-sim`; the
site's power follows the BMS set-point) and three Light Nodes, all on a clock that runs
`--speed` times faster (libfaketime). It then plays the market's day: BRP baselines, a day-ahead
session (DSO and TSO requests, aggregator offers, clearing at gate closure, the DSO rejecting the
TSO's award), orders sent to the nodes as signed set-points, a real-time session, and settlement
from the certified readings. At the end it checks the day against the simulators (every reading
certified, each set-point written to the BMS at its ISP's start and reverted at its end, the
settlement equal to what the site profiles give) and prints the summary.

Afterwards the services keep running (Ctrl-C stops them all) unless `--once` or CI=true.
`--then COMMAND` runs a command on the running services after the day (the console's browser
tests), its outcome one more check: it gets CONSOLE_API, CONSOLE_TOKENS, CONSOLE_DAY, CONSOLE_DIR
and DEMO_CLOCK ("<simulated start> <real start> <speed>", epoch seconds) in its environment.
Exit status: 0 when every check passed, 1 when one failed, 2 when the day could not be run.
Standard library only: `make run` needs no venv.
"""
import argparse
import ctypes
import datetime as dt
from decimal import Decimal
import glob
import json
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZONE = zoneinfo.ZoneInfo("Europe/Rome")
LOCATION = "cp-centro"
MAX_LOAD_W = 10_000
BMS_REGISTER = 100          # the BMS set-point (int32, big-endian words) the sites follow
GATE_CLOSURE = (23, 30)     # D-1, local
CLOCK_START = (23, 15)      # D-1, local: a quarter hour to set up before the gate closes
DAY_AHEAD_ISPS = (2, 3)     # 00:15-00:45 on D
# The DSO's availability contract with agr-alpha: 1,500 W kept at ISPs 2-5 of D, 2,000.00 per MW and ISP (12.00).
CONTRACT = {"id": "fo-centro", "aggregator": "agr-alpha", "congestion_point": LOCATION, "first_isp": 2, "last_isp": 5,
            "power_w": -1500, "fee": {"per_mw_per_isp": "2000.00"}, "price_cap_per_mwh": "100000", "penalty_per_miss": "50"}
REAL_TIME_ISP = 5           # 01:00-01:15 on D, requested at 00:30
INTERVAL_MS = 4000
WRITE_TOLERANCE_S = 20      # a BMS write this late (simulated time) still counts as on time
SETTLEMENT_TOLERANCE = 0.03  # delivered power and fees within 3 % of the profile's figures


@dataclass
class Site:
    name: str
    label: str
    node: str
    pod: str
    register_map: str
    mean_w: int
    amplitude_w: int
    period_s: int           # divides 900 s: every ISP averages the mean exactly
    aggregator: str
    timeout_ms: int         # (requests + retries) x timeout_ms must fit in a cycle: the ABB map takes 6 requests
    port: int = 0

    @property
    def profile(self):
        return f"sine:{self.mean_w}:{self.amplitude_w}:{self.period_s}"


SITES = [
    Site("household", "household", "ln-household", "IT001E00000101", "eastron-sdm120", 2400, 600, 300, "agr-alpha", 1500),
    Site("office", "small office", "ln-office", "IT001E00000102", "carlo-gavazzi-em340", 6000, 1500, 450, "agr-alpha", 800),
    Site("heatpump", "heat-pump house", "ln-heatpump", "IT001E00000103", "abb-b23", 3200, 1200, 900, "agr-beta", 500),
]
TOKENS = [("DSO", "DSO", "dso-1"), ("TSO", "TSO", "tso-1"), ("MO", "MO", None), ("BRP", "BRP", "brp-1"),
          ("agr-alpha", "AGR", "agr-alpha"), ("agr-beta", "AGR", "agr-beta")]


class DemoError(Exception):
    """The day could not be run (a program did not start, an API call failed)."""


# --------------------------------------------------------------------------------------------
# The simulated clock
# --------------------------------------------------------------------------------------------

def faketime_library():
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise DemoError("libfaketime is missing (Debian package faketime; `make deps` installs it)")
    return found[0]


class Clock:
    """Simulated time: starts at `start` and runs `speed` times faster than the real clock.

    Every program it starts gets libfaketime with its start at the simulated second the program
    is spawned, so all share one clock (within the few milliseconds a program takes to load)."""

    def __init__(self, start: dt.datetime, speed: int):
        self.speed = speed
        self.origin = start.timestamp()
        self.real_origin = time.time()
        self.library = faketime_library()

    def now(self) -> float:
        return self.origin + (time.time() - self.real_origin) * self.speed

    def local(self, at=None) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now() if at is None else at, ZONE)

    def environment(self):
        """libfaketime for a program started now (the Light Nodes and the simulators)."""
        # libfaketime takes whole seconds: spawn at a simulated second boundary.
        now = self.now()
        time.sleep((math.ceil(now) - now) / self.speed)
        stamp = dt.datetime.fromtimestamp(round(self.now()), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        # FAKETIME_SHARED names that do not exist keep libfaketime from setenv()ing at load,
        # which would move `environ` under a Swift program's feet (it finds argv from there).
        return {"LD_PRELOAD": self.library, "TZ": "UTC", "FAKETIME": f"@{stamp} x{self.speed}",
                "FAKETIME_SHARED": "/lightnode-demo-no-sem /lightnode-demo-no-shm"}

    def coordinator_section(self):
        """The same clock for the coordinator, which keeps it itself (`[clock]`): libfaketime
        cannot speed up a program whose timers are Dispatch's (see GridCore/SimulatedClock)."""
        return f'[clock]\nstart = "{iso(self.origin)}"\nreal_start = "{iso(self.real_origin)}"\nspeed = {self.speed}\n'


    def sleep_until(self, at: float):
        delay = (at - self.now()) / self.speed
        if delay > 0:
            time.sleep(delay)


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port):
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what, condition, timeout_s=60, poll_s=0.1):
    """Polls `condition` until it returns something true, or fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


# Loaded here, not in the child: between the clock's reading and exec, the child must do as little
# as possible (every real millisecond there is 60 simulated ones of skew between the programs).
LIBC = ctypes.CDLL("libc.so.6", use_errno=True)


def _die_with_parent():
    # A child of a killed driver must not linger (PR_SET_PDEATHSIG = 1).
    LIBC.prctl(1, signal.SIGTERM)


class Fleet:
    """Every program the demo started; stopped in reverse order of starting."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.running = []

    def start(self, name, argv, environment=None):
        log = open(self.folder / f"{name}.log", "wb")
        env = dict(os.environ, **(environment or {}))
        # A session of its own: Ctrl-C reaches the driver only, which stops everyone in order.
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        self.running.append((name, process))
        return process

    def check_alive(self):
        for name, process in self.running:
            if process.poll() is not None:
                raise DemoError(f"{name} exited ({process.returncode}); see {self.folder / (name + '.log')}")

    def stop(self):
        # One after the other, each gone before the next is asked: the Light Nodes say `offline`
        # to a broker still there. Stopped together, a node's last publish waits for an
        # acknowledgement that never comes, and a timed semaphore wait does not time out under
        # libfaketime's sped-up clock: each node hung until killed.
        for name, process in reversed(self.running):
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within 30 s of SIGTERM; killed", file=sys.stderr)
                process.kill()
                process.wait()
        self.running = []


def run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs)
    if result.returncode != 0:
        raise DemoError(f"{' '.join(map(str, argv))} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout.strip()


# --------------------------------------------------------------------------------------------
# The coordinator's API
# --------------------------------------------------------------------------------------------

class API:
    def __init__(self, port, tokens):
        self.base = f"http://127.0.0.1:{port}"
        self.tokens = tokens

    def call(self, method, path, as_, body=None, expect=(200, 201), missing=False):
        """The answer's JSON; with `missing`, None for a 404 (something not there yet)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.tokens[as_]}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        if missing and status == 404:
            return None
        if status not in expect:
            raise DemoError(f"{method} {path} as {as_}: {status} {payload.decode(errors='replace')[:500]}")
        return json.loads(payload) if payload else None

    def get(self, path, as_, missing=False):
        return self.call("GET", path, as_, expect=(200,), missing=missing)


# --------------------------------------------------------------------------------------------
# The day
# --------------------------------------------------------------------------------------------

class Demo:
    def __init__(self, options):
        self.options = options
        self.bin = Path(options.bin).resolve()
        self.folder = Path(options.dir).resolve()
        self.fleet = Fleet(self.folder)
        self.clock = None
        self.api = None
        self.started = time.monotonic()
        self.day = None
        self.orders, self.rounds, self.checks = [], {}, []
        self.settlements, self.report = {}, {}

    # Output ------------------------------------------------------------------------------

    def say(self, text):
        stamp = self.clock.local().strftime("%H:%M") if self.clock else "     "
        print(f"  {stamp}  {text}", flush=True)

    # Setting up --------------------------------------------------------------------------

    def prepare(self):
        for program in ("lightnode", "coordinator", "meter-sim"):
            if not (self.bin / program).exists():
                raise DemoError(f"{self.bin / program} is missing (make release)")
        if self.folder.exists():
            shutil.rmtree(self.folder)  # every run plays a fresh day
        self.folder.mkdir(parents=True)
        os.chmod(self.folder, 0o700)

    def start_broker(self):
        """Mosquitto with the project's configuration: its limits, persistence, password file and
        ACL, on a loopback listener (the TLS listener for nodes on the network is left out)."""
        broker = self.folder / "broker"
        broker.mkdir()
        self.mqtt_port = free_port()
        passwords = broker / "lightnode.passwd"
        self.mqtt_passwords = {}
        for user in ["coordinator"] + [site.node for site in SITES]:
            secret = os.urandom(18).hex()
            self.mqtt_passwords[user] = secret
            run(["mosquitto_passwd", "-b"] + (["-c"] if user == "coordinator" else []) + [str(passwords), user, secret])
        replaced = {"listener", "tls_version", "certfile", "keyfile", "cafile", "crlfile", "require_certificate",
                    "use_identity_as_username", "use_username_as_clientid", "password_file", "acl_file",
                    "persistence_location", "pid_file", "log_dest"}
        kept = [line for line in (ROOT / "firmware-config/mosquitto/mosquitto.conf").read_text().splitlines()
                if line.split(" ", 1)[0] not in replaced]
        kept += [f"listener {self.mqtt_port} 127.0.0.1", f"password_file {passwords}",
                 f"acl_file {ROOT / 'firmware-config/mosquitto/lightnode.acl'}",
                 f"persistence_location {broker}/", "log_dest stderr", "user root" if os.getuid() == 0 else ""]
        (broker / "mosquitto.conf").write_text("\n".join(kept) + "\n")
        self.fleet.start("mosquitto", ["/usr/sbin/mosquitto", "-c", str(broker / "mosquitto.conf")])
        wait_for("Mosquitto to listen", lambda: listening(self.mqtt_port))

    def secret_file(self, path: Path, text: str):
        """`text` in a new file readable by its owner only (0600 from the start)."""
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(text + "\n")
        return path

    def configure_coordinator(self):
        folder = self.folder / "coordinator"
        folder.mkdir()
        self.http_port = free_port()
        self.coordinator_config = folder / "coordinator.toml"
        password = self.secret_file(folder / "mqtt.password", self.mqtt_passwords["coordinator"])
        hours, minutes = GATE_CLOSURE
        self.coordinator_config.write_text(f"""\
# Written by scripts/demo_day.py (make run): the platform of the demo day.
[scd]
url = "sqlite://scd.sqlite"

[mqtt]
host = "127.0.0.1"
port = {self.mqtt_port}
username = "coordinator"
password_file = "{password}"
share_group = "coordinator"
client_id = "coordinator-demo"

[http]
listen = "127.0.0.1:{self.http_port}"

[ingest]
interval_ms = {INTERVAL_MS}
certify_within_s = 60

[market]
time_zone = "{ZONE.key}"
day_ahead_gate_closure = "{hours:02d}:{minutes:02d}"
validation = "dso"
real_time_interval_s = 86400   # the market operator clears real-time sessions here
ack_timeout_s = 300
penalty_per_mw = 11
settlement_min_coverage = 0.9

[market.congestion_point_max_load]
"{LOCATION}" = {MAX_LOAD_W}    # below the three sites' 11,600 W: the console shows the deficiency

[market.congestion_point_operators]
"{LOCATION}" = "dso-1"         # only dso-1 plans, asks for and contracts its point
""")
        # The set-point key, made here so the nodes can trust its public half before anything starts.
        self.setpoint_key = folder / "setpoint.key"
        self.setpoint_public = self.keygen(self.setpoint_key)
        tokens = {}
        for name, role, participant in TOKENS:
            tokens[name] = self.coordinator("token", "add", "--role", role,
                                            *(["--participant", participant] if participant else []))
        self.secret_file(self.folder / "tokens.json", json.dumps(tokens, indent=2))
        self.api = API(self.http_port, tokens)

    def keygen(self, path):
        """A new Ed25519 key file (0600); its public half (base64), as `lightnode keygen` prints it."""
        return run([self.bin / "lightnode", "keygen", "--out", path]).split()[-1]

    def coordinator(self, *arguments):
        return run([self.bin / "coordinator", *arguments, "--config", self.coordinator_config])

    def configure_nodes(self):
        for site in SITES:
            folder = self.folder / site.node
            folder.mkdir()
            public = self.keygen(folder / "node.key")
            self.coordinator("node", "add", "--node", site.node, "--pod", site.pod, "--key", public)
            self.coordinator("pod", "set", "--pod", site.pod, "--aggregator", site.aggregator, "--brp", "brp-1",
                             "--congestion-point", LOCATION)
            self.secret_file(folder / "mqtt.password", self.mqtt_passwords[site.node])

    def write_node_config(self, site):
        folder = self.folder / site.node
        path = folder / "lightnode.toml"
        path.write_text(f"""\
# Written by scripts/demo_day.py (make run): the Light Node of the {site.label}.
[node]
id = "{site.node}"
pod = "{site.pod}"
data_dir = "{folder / 'data'}"
key_file = "{folder / 'node.key'}"

[acquisition]
interval_ms = {INTERVAL_MS}

[[meters]]
name = "main"
transport = "tcp"
host = "127.0.0.1"
port = {site.port}
register_map = "{ROOT / 'firmware-config/registers' / (site.register_map + '.toml')}"
timeout_ms = {site.timeout_ms}   # simulated milliseconds: a sixtieth of that in real ones at x60
retries = 1

[mqtt]
host = "127.0.0.1"
port = {self.mqtt_port}
username = "{site.node}"
password_file = "{folder / 'mqtt.password'}"
reconnect_jitter_s = 0

[setpoints]
trusted_keys = ["{self.setpoint_public}"]
min_w = 0
max_w = 20000
max_age_s = 300

[[setpoints.targets]]
kind = "modbus"      # the site's BMS: the same simulator, holding registers {BMS_REGISTER}-{BMS_REGISTER + 1}
transport = "tcp"
host = "127.0.0.1"
port = {site.port}
unit_id = 1
address = {BMS_REGISTER}
type = "int32"
word_order = "big"
scale = 1.0
idle_value = 0
timeout_ms = 800
retries = 1
""")
        run([self.bin / "lightnode", "check-config", "--config", path])
        return path

    def start_platform(self, day):
        start = local(day, CLOCK_START, days=-1)
        self.clock = Clock(start, self.options.speed)
        print(f"Light Node demo: market day {day} ({ZONE.key}), one simulated minute every {60 / self.options.speed:g} s")
        print(f"  (programs and logs in {self.folder}; the simulated clock starts on {start:%Y-%m-%d %H:%M})")
        self.say(f"broker: Mosquitto on 127.0.0.1:{self.mqtt_port} with the project's configuration, passwords and ACL")
        with open(self.coordinator_config, "a") as config:
            config.write("\n" + self.clock.coordinator_section())
        self.fleet.start("coordinator", [str(self.bin / "coordinator"), "serve", "--config", str(self.coordinator_config)])

        def ready():
            self.fleet.check_alive()
            try:
                with urllib.request.urlopen(f"{self.api.base}/readyz", timeout=5) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                return False
        wait_for("the coordinator to be ready", ready, timeout_s=120)
        self.say(f"coordinator: API on {self.api.base} (tokens in {self.folder / 'tokens.json'}), SCD on SQLite")
        for site in SITES:
            log = self.folder / f"{site.name}-site.log"
            self.fleet.start(f"{site.name}-site", [
                str(self.bin / "meter-sim"), "--map", str(ROOT / "firmware-config/registers" / (site.register_map + ".toml")),
                "--profile", site.profile, "--holding", f"{BMS_REGISTER}-{BMS_REGISTER + 1}", "--follow", str(BMS_REGISTER),
                "--write-log", str(self.folder / f"{site.name}-bms-writes.log")], self.clock.environment())
            line = wait_for(f"the {site.label}'s simulator", lambda: next(
                (l for l in log.read_text().splitlines() if l.startswith("listening tcp")), None) if log.exists() else None)
            site.port = int(line.rsplit(":", 1)[1])
        self.say("sites: " + "; ".join(f"{s.label} ({s.register_map}, {s.mean_w:,} W ± {s.amplitude_w:,})" for s in SITES))
        for site in SITES:
            config = self.write_node_config(site)
            self.fleet.start(site.node, [str(self.bin / "lightnode"), "run", "--config", str(config)], self.clock.environment())
        self.say(f"Light Nodes: {', '.join(s.node for s in SITES)} reading every {INTERVAL_MS // 1000} s, "
                 "publishing their signed ledgers, trusting the platform's set-point key")

    # The market --------------------------------------------------------------------------

    def at(self, day, isp):
        """The start of `isp` on `day` (simulated epoch seconds)."""
        return local(day, (0, 0)).timestamp() + (isp - 1) * 900

    def wait_until(self, at, what=None):
        if what:
            self.say(f"waiting for {self.clock.local(at):%H:%M} ({what})")
        while self.clock.now() < at:
            self.fleet.check_alive()
            self.clock.sleep_until(min(at, self.clock.now() + self.options.speed))  # a real second at a time
        self.fleet.check_alive()

    def baselines(self, day):
        # The BRP's profiles are per UTC day: the local market day spans two.
        previous = local(day, (0, 0), days=-1).date().isoformat()
        for site in SITES:
            for utc_day in (previous, day):
                self.api.call("PUT", f"/api/v1/pods/{site.pod}/baselines/{utc_day}", "BRP",
                              {"energy_wh": [site.mean_w / 4] * 96})
        self.say("BRP baselines for the day: each site's average (" + ", ".join(f"{s.mean_w:,} W" for s in SITES) + ")")

    def contract(self, day):
        self.api.call("POST", "/api/v1/market/contracts", "DSO", dict(CONTRACT, first_day=day, last_day=day))
        self.say(f"the DSO holds an availability contract with agr-alpha: 1,500 W at ISPs 2-5 of {day}, 2,000.00 per MW and ISP")

    def day_ahead(self, day):
        first, last = DAY_AHEAD_ISPS
        isps = {"start": first, "duration": last - first + 1}
        self.api.call("POST", "/api/v1/market/requests", "DSO", {
            "session": "day-ahead", "day": day, "id": "dso-da", "area": [LOCATION],
            "isps": [dict(isps, min_power=-2100, max_power=-1500)]})
        self.api.call("POST", "/api/v1/market/requests", "TSO", {
            "session": "day-ahead", "day": day, "id": "tso-da", "area": [LOCATION],
            "isps": [dict(isps, min_power=-1500, max_power=-1000)]})
        self.say(f"day-ahead requests for ISPs {first}-{last}: DSO 1,500-2,100 W less at {LOCATION}, TSO 1,000-1,500 W less")
        self.api.call("POST", "/api/v1/market/offers", "agr-alpha", {
            "session": "day-ahead", "day": day, "id": "alpha-da", "location": LOCATION, "price": 45,
            "min_activation_factor": 0.2, "isps": [dict(isps, power=-3000)],
            "pods": [{"pod": SITES[0].pod, "share": 0.4}, {"pod": SITES[1].pod, "share": 0.6}]})
        self.api.call("POST", "/api/v1/market/offers", "agr-beta", {
            "session": "day-ahead", "day": day, "id": "beta-da", "location": LOCATION, "price": 12,
            "min_activation_factor": 1, "isps": [dict(isps, power=-1200)], "pods": [{"pod": SITES[2].pod}]})
        self.say("offers: agr-alpha 3,000 W for 45.00 (household 40 %, office 60 %; from 20 %), "
                 "agr-beta 1,200 W for 12.00 (heat pump; all or nothing)")
        self.api.call("POST", "/api/v1/market/requests", "DSO", {
            "session": "day-ahead", "day": day, "id": "dso-da-spare", "area": [LOCATION],
            "isps": [dict(isps, min_power=-500, max_power=-300)]})
        withdrawn = self.api.call("DELETE", "/api/v1/market/requests/dso-da-spare?reason=forecast+revised", "DSO")
        self.say(f"the DSO withdraws a third request, dso-da-spare, before the gate: {withdrawn['status']}")
        self.wait_until(local(day, GATE_CLOSURE, days=-1).timestamp(), "the day-ahead gate closure: the coordinator clears the session")

        def day_ahead_round():
            rounds = self.api.get(f"/api/v1/market/days/{day}", "MO")["rounds"]
            return next((r for r in rounds if r["session"] == "day-ahead"), None)
        found = wait_for("the day-ahead round", day_ahead_round, timeout_s=120, poll_s=0.25)
        round_id = found["id"]
        awards = found["preliminary"]["awards"]
        self.say(f"cleared {round_id}, DSO first: " + "; ".join(
            f"{a['request']} <- {a['offer']} at {a['factor']} %" for a in awards))
        final = self.api.call("PUT", f"/api/v1/market/rounds/{round_id}/validation", "DSO", {"rejected": []})["final"]
        self.say(f"DSO validation: every award stands; final: {len(final['awards'])} awards")
        self.rounds[round_id] = final
        self.order(round_id, final)

    def order(self, round_id, final):
        for index, award in enumerate(final["awards"]):
            buyer = "DSO" if award["request"].startswith("dso") else "TSO"
            order = self.api.call("POST", "/api/v1/market/orders", buyer, {"round": round_id, "award": index})
            self.orders.append(order["id"])
        points = wait_for("the nodes to accept the set-points", self.setpoints_acknowledged, timeout_s=120, poll_s=0.25)
        self.say(f"ordered: {len(points)} signed set-points sent, all accepted by the nodes")

    def setpoints(self):
        rows = []
        for order_id in self.orders:
            order = self.api.get(f"/api/v1/market/orders/{order_id}", "MO")
            for point in order["setpoints"]:
                rows.append(dict(point, order=order_id, alerts=order.get("alerts", [])))
        return rows

    def standing(self):
        """The orders' parts that stand (not cancelled, not trimmed), one row per POD and ISP:
        the set-point the node holds there combines every order standing on it."""
        rows = {}
        for row in self.setpoints():
            if row["status"] not in ("cancelled", "trimmed"):
                rows.setdefault((row["pod"], row["isp"]), row)
        return list(rows.values())

    def setpoints_acknowledged(self):
        """Every set-point ordered so far, once each has an acknowledgement; a failed one stops the day."""
        rows = [r for r in self.setpoints() if r["status"] not in ("cancelled", "trimmed")]
        if any(r["status"] in ("rejected", "failed", "undeliverable", "unacknowledged") for r in rows):
            raise DemoError("a set-point failed: " + json.dumps([r for r in rows if r["status"] not in ("accepted", "applied", "expired")]))
        return rows if rows and all(r["status"] != "sent" for r in rows) else None

    def watch_activation(self, day, isp):
        start = self.at(day, isp)
        self.wait_until(start, f"ISP {isp}: the nodes apply their set-points")
        def applied_now():
            rows = [r for r in self.standing() if r["isp"] == isp]
            return rows if rows and all(r["status"] in ("applied", "expired") for r in rows) else None
        applied = wait_for(f"set-points of ISP {isp} applied", applied_now, timeout_s=120, poll_s=0.25)
        by_pod = {r["pod"]: r["w"] for r in applied}
        self.say(f"ISP {isp} running: " + ", ".join(f"{s.label} held at {by_pod[s.pod]:,} W (baseline {s.mean_w:,})"
                                                   for s in SITES if s.pod in by_pod))

    def cancel(self, day):
        """The TSO cancels what has not begun of its day-ahead order: the nodes get the DSO's
        part alone for those ISPs, as new set-points that replace the combined ones."""
        order_id = next((o for o in self.orders if "tso-1:tso-da" == self.api.get(f"/api/v1/market/orders/{o}", "MO")["award"]["request"]), None)
        if order_id is None:
            raise DemoError("the TSO's day-ahead award was not ordered")
        order = self.api.call("DELETE", f"/api/v1/market/orders/{order_id}?reason=frequency+restored", "TSO")
        cancelled = sorted({p["isp"] for p in order["setpoints"] if p["status"] == "cancelled"})
        self.say(f"the TSO cancels {order_id} for ISPs {', '.join(map(str, cancelled))} (not begun): the nodes get the DSO's part alone")
        wait_for("the nodes to accept the re-combined set-points", self.setpoints_acknowledged, timeout_s=120, poll_s=0.25)

    def real_time(self, day):
        isp = REAL_TIME_ISP
        self.api.call("POST", "/api/v1/market/requests", "DSO", {
            "session": "real-time", "day": day, "id": "dso-rt", "area": [LOCATION],
            "isps": [{"start": isp, "min_power": -1500, "max_power": -1000}]})
        self.api.call("POST", "/api/v1/market/offers", "agr-alpha", {
            "session": "real-time", "day": day, "id": "alpha-rt", "location": LOCATION, "price": 20,
            "min_activation_factor": 0.5, "isps": [{"start": isp, "power": -1500}],
            "pods": [{"pod": SITES[0].pod, "share": 0.4}, {"pod": SITES[1].pod, "share": 0.6}]})
        self.say(f"real-time: the DSO asks 1,000-1,500 W less for ISP {isp}; agr-alpha offers 1,500 W for 20.00")
        cleared = self.api.call("POST", f"/api/v1/market/sessions/real-time/{day}/clear", "MO")
        round_id = cleared["id"]
        self.say(f"market operator clears {round_id}: " + "; ".join(
            f"{a['request']} <- {a['offer']} at {a['factor']} %" for a in cleared["preliminary"]["awards"]))
        final = self.api.call("PUT", f"/api/v1/market/rounds/{round_id}/validation", "DSO", {"rejected": []})["final"]
        self.rounds[round_id] = final
        self.order(round_id, final)

    def settle(self, day):
        last_end = self.at(day, max(REAL_TIME_ISP, DAY_AHEAD_ISPS[1])) + 900
        self.wait_until(last_end, "the last activated ISP to end")

        def settled():
            # The last ISP is measured a little after it ends: until then it settles provisionally,
            # from the readings certified so far. Settled is when no line is unverified and the
            # month's report (settled afresh) agrees with the orders to the cent.
            result = {}
            for order_id in self.orders:
                settlement = self.api.get(f"/api/v1/market/orders/{order_id}/settlement", "MO")
                if any(row["status"] == "unverified" for pod in settlement["pods"] for row in pod["isps"]):
                    return None
                result[order_id] = settlement
            report = self.api.get(f"/api/v1/market/settlements/{day[:7]}", "MO")
            fees = {}
            for settlement in result.values():
                fees[settlement["aggregator"]] = fees.get(settlement["aggregator"], Decimal(0)) + Decimal(settlement["fee"])
            if any(Decimal(entry["fee"]) != fees.get(entry["aggregator"], Decimal(0)) for entry in report["aggregators"]):
                return None
            return result, report
        self.settlements, self.report = wait_for("every activated ISP to be measured and certified", settled, timeout_s=300, poll_s=0.5)
        self.say("settled from certified readings: " + "; ".join(
            f"{a['aggregator']} delivered {a['delivered_wh']:,} Wh, net {float(a['net']):.2f}" for a in self.report["aggregators"]))

    # Checks ------------------------------------------------------------------------------

    def check(self, name, passed, detail):
        self.checks.append({"check": name, "passed": bool(passed), "detail": detail})

    def check_certified(self, cutoff):
        """Every reading a node recorded before `cutoff` is in the SCD, certified."""
        until = iso(cutoff)
        observed = {}

        def every_reading_certified():
            for site in SITES:
                export = run([self.bin / "lightnode", "ledger", "export", "--db", self.folder / site.node / "data/ledger.sqlite"])
                recorded = set()
                for line in export.splitlines()[1:]:
                    entry = json.loads(line)
                    body = json.loads(entry["body"])
                    if body.get("k") == "reading" and body["t"] < until:
                        recorded.add(entry["seq"])
                items = self.api.get(f"/api/v1/pods/{site.pod}/measurements?from={iso(self.clock.origin - 3600)}"
                                     f"&to={until}&resolution=raw", "MO")["items"]
                stored = {item["seq"] for item in items}
                certified = {item["seq"] for item in items if item["certified"]}
                observed[site.node] = (recorded, stored, certified)
            return all(recorded == stored == certified for recorded, stored, certified in observed.values())
        try:
            wait_for("every reading to be certified", every_reading_certified, timeout_s=180, poll_s=1)
        except DemoError:
            pass  # the last observation says what is missing
        for node, (recorded, stored, certified) in observed.items():
            passed = recorded == stored == certified
            self.check(f"{node}: every reading certified", passed,
                       f"{len(recorded)} readings, all in the SCD and certified" if passed else
                       f"of {len(recorded)} readings before {until}, {len(recorded - certified)} not in the SCD certified"
                       f" (first seqs {sorted(recorded - certified)[:5]}); {len(stored - recorded)} in the SCD but not in the ledger")

    def check_ledgers(self):
        for site in SITES:
            result = subprocess.run([self.bin / "lightnode", "ledger", "verify", "--db", self.folder / site.node / "data/ledger.sqlite"],
                                    capture_output=True, text=True)
            self.check(f"{site.node}: ledger verifies", result.returncode == 0, (result.stdout + result.stderr).strip()[-300:])

    def check_bms(self):
        """Each set-point was written to its site's BMS at its ISP's start and the idle value
        restored at the end of its block of ISPs; nothing else but idle was ever written."""
        points = self.standing()
        for site in SITES:
            writes = []
            log = self.folder / f"{site.name}-bms-writes.log"
            for line in (log.read_text().splitlines() if log.exists() else []):
                stamp, address, high, low = line.split()
                value = int.from_bytes(int(high).to_bytes(2, "big") + int(low).to_bytes(2, "big"), "big", signed=True)
                writes.append((parse_iso(stamp), int(address), value))
            mine = sorted((r for r in points if r["pod"] == site.pod), key=lambda r: r["from"])
            problems = []
            for index, point in enumerate(mine):
                start, end = parse_iso(point["from"]), parse_iso(point["until"])
                if not any(start - 1 <= t <= start + WRITE_TOLERANCE_S and v == point["w"] for t, a, v in writes):
                    problems.append(f"no write of {point['w']} W within {WRITE_TOLERANCE_S} s of {point['from']}")
                following = mine[index + 1] if index + 1 < len(mine) else None
                if following is None or parse_iso(following["from"]) != end:
                    if not any(end - 1 <= t <= end + WRITE_TOLERANCE_S and v == 0 for t, a, v in writes):
                        problems.append(f"not reverted to idle within {WRITE_TOLERANCE_S} s of {point['until']}")
            windows = [(parse_iso(r["from"]) - 1, parse_iso(r["until"]) + WRITE_TOLERANCE_S, r["w"]) for r in mine]
            stray = [(t, v) for t, a, v in writes if v != 0 and not any(a0 <= t <= b0 and v == w for a0, b0, w in windows)]
            if stray:
                problems.append(f"{len(stray)} write(s) outside the set-points' windows")
            self.check(f"{site.label}: set-points at the BMS on time and reverted", not problems,
                       "; ".join(problems) or f"{len(mine)} set-point(s), {len(writes)} writes, each within {WRITE_TOLERANCE_S} s")

    def check_settlement(self):
        """The settlement against the profiles, per POD and ISP across the orders standing there:
        without a set-point a site averages its mean power over every ISP (each ISP holds whole
        periods of its sine), with one it follows the set-point, which combines every standing
        order; so the POD delivers its mean minus its set-point, at most the orders' total, shared
        by the orders pro rata to their parts. An order's fee is its price times its share of
        what it ordered delivered; cancelled ISPs settle at nothing."""
        by_pod = {site.pod: site for site in SITES}
        setpoint = {(r["pod"], r["isp"]): r["w"] for r in self.standing()}
        places = {}
        for order_id, settlement in self.settlements.items():
            for pod in settlement["pods"]:
                for row in pod["isps"]:
                    if row["status"] == "settled":
                        places.setdefault((pod["pod"], row["isp"]), []).append((order_id, row))
        expected_delivered = {order_id: 0.0 for order_id in self.settlements}
        problems, shared = [], 0
        for (pod, isp), rows in sorted(places.items()):
            site = by_pod[pod]
            ordered = sum(abs(row["ordered"]) for _, row in rows)
            expected = max(0, min(site.mean_w - setpoint[(pod, isp)], ordered))
            delivered = sum(row["delivered"] for _, row in rows)
            shared += len(rows) > 1
            if any(row["baseline"] != site.mean_w for _, row in rows):
                problems.append(f"{site.label} ISP {isp}: a baseline other than the profile's mean {site.mean_w} W")
            if abs(delivered - expected) > SETTLEMENT_TOLERANCE * ordered:
                problems.append(f"{site.label} ISP {isp}: delivered {delivered} W over {len(rows)} order(s), expected {expected} W")
            if any(row["delivered"] > abs(row["ordered"]) for _, row in rows):
                problems.append(f"{site.label} ISP {isp}: an order credited beyond its part")
            for order_id, row in rows:
                expected_delivered[order_id] += expected * abs(row["ordered"]) / ordered
        self.check("delivered per POD and ISP as the profiles give, across orders", not problems and shared > 0,
                   "; ".join(problems) or f"{len(places)} POD-ISPs verified, {shared} of them shared by two orders")
        expected_fees = {}
        for order_id, settlement in self.settlements.items():
            lines = [row for pod in settlement["pods"] for row in pod["isps"]]
            ordered_total = sum(abs(row["ordered"]) for row in lines)
            cancelled = sum(row["status"] == "cancelled" for row in lines)
            fee = float(settlement["fee"])
            expected_fee = float(settlement["price"]) * expected_delivered[order_id] / ordered_total
            expected_fees[settlement["aggregator"]] = expected_fees.get(settlement["aggregator"], 0) + expected_fee
            passed = abs(fee - expected_fee) <= SETTLEMENT_TOLERANCE * max(expected_fee, 0.01) and \
                all(row["fee"] == "0.00" for row in lines if row["status"] == "cancelled")
            self.check(f"order {order_id}: fee as the profiles give", passed,
                       f"fee {fee:.2f} (expected {expected_fee:.2f}); {cancelled} cancelled POD-ISPs at nothing")
        for entry in self.report["aggregators"]:
            fee, expected = float(entry["fee"]), expected_fees.get(entry["aggregator"], 0)
            self.check(f"{entry['aggregator']}: the month's fees as the profiles give",
                       abs(fee - expected) <= SETTLEMENT_TOLERANCE * max(expected, 1), f"fees {fee:.2f}, expected {expected:.2f}")

    def check_contract(self):
        """The contract's month: every request it was owed answered, the fee as its terms give
        (ISPs × MW × rate, to the cent), and in the aggregator's totals."""
        month = next((c for c in self.report.get("contracts", []) if c["contract"] == CONTRACT["id"]), None)
        isps = CONTRACT["last_isp"] - CONTRACT["first_isp"] + 1
        expected = (Decimal(isps) * Decimal(-CONTRACT["power_w"]) / 1_000_000 * Decimal(CONTRACT["fee"]["per_mw_per_isp"])).quantize(Decimal("0.01"))
        alpha = next((a for a in self.report["aggregators"] if a["aggregator"] == CONTRACT["aggregator"]), {})
        passed = month is not None and month["obligations"] >= 1 and not month["misses"] and Decimal(month["availability_fee"]) == expected \
            and Decimal(alpha.get("availability_fee", "0")) == expected
        self.check(f"contract {CONTRACT['id']}: obligations met and the availability fee paid", passed,
                   f"{month['obligations']} request(s) owed, {len(month['misses'])} missed, fee {month['availability_fee']} "
                   f"(expected {expected})" if month else "no contract month in the report")

    def check_statements(self):
        """A settlement run issues each party's statement of account: the DSO's adds up line by line,
        holds an activation line per order it bought and the contract's availability fee, and only
        the TSO's own statement is the TSO's to read."""
        month = self.day[:7]
        issued = self.api.call("POST", f"/api/v1/market/settlements/{month}/statements", "MO")["items"]
        dso = next((s for s in issued if s["role"] == "dso" and s["party"] == "dso-1"), None)
        statement = self.api.get(f"/api/v1/market/settlements/{month}/statements/dso/dso-1/v{dso['version']}", "DSO") if dso else None
        lines = statement["lines"] if statement else []
        contract = next((l for l in lines if l["kind"] == "availability" and l["reference"] == CONTRACT["id"]), None)
        fee = next((c["availability_fee"] for c in self.report.get("contracts", []) if c["contract"] == CONTRACT["id"]), None)
        bought = {o for o in self.orders if self.settlements[o]["request"].startswith("dso-1:")}
        activation = {l["reference"] for l in lines if l["kind"] == "activation"}
        tso_sees = {s["party"] for s in self.api.get(f"/api/v1/market/settlements/{month}/statements", "TSO")["items"]}
        adds_up = statement is not None and sum(Decimal(l["net"]) for l in lines) == Decimal(statement["totals"]["net"])
        passed = adds_up and contract is not None and fee is not None and Decimal(contract["fee"]) == Decimal(fee) \
            and activation == bought and tso_sees <= {"tso-1"}
        self.check("statements of account: the DSO's adds up, with its orders and the contract's fee; the TSO reads its own only", passed,
                   f"{len(issued)} statements issued; dso-1 v{dso['version']}: {len(activation)} orders, contract fee "
                   f"{contract['fee'] if contract else '-'}, net {statement['totals']['net']}; the TSO sees {sorted(tso_sees)}"
                   if statement else f"no statement of dso-1 among {len(issued)} issued")

    # Running -----------------------------------------------------------------------------

    def play(self):
        self.prepare()
        self.start_broker()
        self.configure_coordinator()
        self.configure_nodes()
        # Market day D: the day after today (local), its day-ahead gate closes tonight.
        day = (dt.datetime.now(ZONE).date() + dt.timedelta(days=1)).isoformat()
        self.day = day
        self.start_platform(day)
        self.baselines(day)
        self.contract(day)
        self.day_ahead(day)
        self.watch_activation(day, DAY_AHEAD_ISPS[0])
        self.cancel(day)
        self.wait_until(self.at(day, REAL_TIME_ISP) - 30 * 60, "the real-time session, half an hour ahead")
        self.real_time(day)
        self.watch_activation(day, REAL_TIME_ISP)
        self.settle(day)
        self.check_certified(self.at(day, REAL_TIME_ISP) + 900)
        self.check_ledgers()
        self.check_bms()
        self.check_settlement()
        self.check_contract()
        self.check_statements()
        return self.summary()

    def summary(self):
        print()
        print(f"The day {self.day} in {time.monotonic() - self.started:.0f} s:")
        counts = {}
        for site in SITES:
            items = self.api.get(f"/api/v1/pods/{site.pod}/measurements?from={iso(self.clock.origin - 3600)}"
                                 f"&to={iso(self.clock.now())}&resolution=raw", "MO")["items"]
            counts[site.node] = (sum(1 for i in items if i["certified"]), len(items))
        print("  readings certified: " + ", ".join(f"{node} {c:,} of {n:,}" for node, (c, n) in counts.items()))
        points = self.setpoints()
        print(f"  set-points: {len(points)} sent, "
              f"{sum(1 for p in points if p['status'] in ('applied', 'expired'))} applied and acknowledged")
        for entry in self.report["aggregators"]:
            print(f"  {entry['aggregator']}: {entry['orders']} order(s), delivered {entry['delivered_wh']:,.0f} Wh, "
                  f"short {entry['deficiency_wh']:,.0f} Wh, fees {float(entry['fee']):.2f}, "
                  f"penalties {float(entry['penalty']):.2f}, net {float(entry['net']):.2f}, "
                  f"availability {float(entry.get('availability_fee', 0)):.2f}, total {float(entry.get('total', entry['net'])):.2f}")
        failed = [c for c in self.checks if not c["passed"]]
        for entry in self.checks:
            print(f"  {'ok  ' if entry['passed'] else 'FAIL'} {entry['check']}: {entry['detail']}")
        report = {"day": self.day, "speed": self.options.speed, "orders": self.orders, "rounds": self.rounds,
                  "settlements": self.settlements, "monthly": self.report, "checks": self.checks,
                  "readings": {node: {"certified": c, "stored": n} for node, (c, n) in counts.items()},
                  "api": self.api.base}
        (self.folder / "day.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"  {len(self.checks) - len(failed)} of {len(self.checks)} checks passed; the whole day in {self.folder / 'day.json'}")
        return 1 if failed else 0

    def then(self, command):
        """Runs `command` on the running services; its exit status is one more check of the day."""
        print(f"\nthen: {command}", flush=True)
        environment = dict(os.environ, CONSOLE_API=self.api.base, CONSOLE_TOKENS=str(self.folder / "tokens.json"),
                           CONSOLE_DAY=self.day, CONSOLE_DIR=str(self.folder),
                           DEMO_CLOCK=f"{self.clock.origin} {self.clock.real_origin} {self.options.speed}")
        try:
            status = subprocess.run(shlex.split(command), stdin=subprocess.DEVNULL, env=environment).returncode
            detail = f"exit status {status}"
        except OSError as error:
            status, detail = None, f"could not start: {error}"
        self.check(f"then: {command}", status == 0, detail)
        report = json.loads((self.folder / "day.json").read_text())
        report["checks"] = self.checks
        (self.folder / "day.json").write_text(json.dumps(report, indent=2) + "\n")
        return status == 0


def local(day, hour_minute, days=0):
    """`hour_minute` (a pair) on `day` (YYYY-MM-DD) moved by `days`, in the market's time zone."""
    return dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=days), dt.time(*hour_minute), ZONE)


def iso(epoch):
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(ROOT / ".build/release"), help="where lightnode, coordinator and meter-sim are")
    parser.add_argument("--dir", default=str(ROOT / "run"), help="the day's folder (emptied first)")
    parser.add_argument("--speed", type=int, default=60, help="simulated seconds per real second (default 60)")
    parser.add_argument("--once", action="store_true", default=os.environ.get("CI") == "true",
                        help="exit after the summary (default with CI=true)")
    parser.add_argument("--then", metavar="COMMAND", help="run COMMAND on the running services after the day, then exit")
    options = parser.parse_args()
    if not 1 <= options.speed <= 240:
        parser.error("--speed must be between 1 and 240")
    demo = Demo(options)

    def terminate(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)
    try:
        status = demo.play()
        if options.then:
            return status if demo.then(options.then) else 1
        if not options.once:
            print(f"\nThe services keep running (the clock still x{options.speed}): API {demo.api.base}, "
                  f"tokens in {demo.folder / 'tokens.json'}, logs in {demo.folder}. Ctrl-C stops them.")
            while True:
                demo.fleet.check_alive()
                time.sleep(1)
        return status
    except KeyboardInterrupt:
        print("\nstopping every program the demo started…")
        return 130
    except DemoError as error:
        print(f"\ndemo: {error}", file=sys.stderr)
        return 2
    finally:
        demo.fleet.stop()


if __name__ == "__main__":
    sys.exit(main())
