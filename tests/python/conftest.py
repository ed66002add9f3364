"""Fixtures for tests through the real stack: pcscd + vpcd + the reader-bridge binary.

pcscd is started by scripts/test.sh (or scripts/up.sh). Without it these tests fail with a message
saying so; VCARD_SKIP_E2E=1 skips them explicitly. Each bridge leases a vpcd slot with the same
file locks as the Rust harness (tests/src/lib.rs), so Rust and Python tests never share a slot.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fido2.client import UserInteraction
from fido2.webauthn import PublicKeyCredentialRpEntity
from smartcard.scard import (
    SCARD_S_SUCCESS,
    SCARD_SCOPE_USER,
    SCardEstablishContext,
    SCardListReaders,
    SCardReleaseContext,
)
from smartcard.System import readers as pcsc_readers

REPO = Path(__file__).resolve().parents[2]
# The control endpoint client and the wait for a card are the RP example's, which relying
# parties copy (examples/rp-ci/card_stack.py): one copy, tested by both suites.
sys.path.insert(0, str(REPO / "examples" / "rp-ci"))
from card_stack import Control, stop_bridge_process, wait_for_card  # noqa: E402,F401 - re-exported to the tests

# What the python-fido2 tests register with.
ORIGIN = "https://login.example.com"
RP = PublicKeyCredentialRpEntity(id="example.com", name="Example")
PIN = "4711"
ES256 = [{"type": "public-key", "alg": -7}]


def _bridge_binary() -> Path:
    env = os.environ.get("VCARD_BRIDGE_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    path = target / "debug" / "reader-bridge"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run scripts/test.sh, or `cargo build -p reader-bridge`, "
                    "or set VCARD_BRIDGE_BIN")
    return path


@pytest.fixture(scope="session")
def pcsc_context():
    if os.environ.get("VCARD_SKIP_E2E") == "1":
        pytest.skip("VCARD_SKIP_E2E=1")
    hresult, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if hresult != SCARD_S_SUCCESS:
        pytest.fail("cannot reach pcscd: run the tests with scripts/test.sh (it starts pcscd with "
                    "vpcd), or set VCARD_SKIP_E2E=1 to skip them")
    hresult, readers = SCardListReaders(ctx, [])
    if hresult != SCARD_S_SUCCESS or not any(r.startswith("Virtual PCD") for r in readers or []):
        pytest.fail(f"pcscd has no 'Virtual PCD' reader ({readers!r}): run scripts/test.sh")
    yield ctx
    SCardReleaseContext(ctx)


def connect(reader_name: str):
    """A raw pyscard connection to the card in `reader_name`."""
    reader = next(r for r in pcsc_readers() if str(r) == reader_name)
    conn = reader.createConnection()
    conn.connect()
    return conn


def transmit(conn, hex_apdu: str) -> tuple[bytes, int]:
    """Sends an APDU written in hex; returns (data, SW)."""
    data, sw1, sw2 = conn.transmit(list(bytes.fromhex(hex_apdu)))
    return bytes(data), (sw1 << 8) | sw2


@dataclass
class Slot:
    index: int
    port: int
    reader: str


def slot_lock_path(index: int) -> Path:
    """The file lock that leases vpcd slot `index`, shared with the Rust harness
    (tests/src/lib.rs, `slot_lock_path`). It lives in the stack's state directory
    (STACK_STATE_DIR, as scripts/stack.sh uses it), which /work/shared/e2e/iso.sh and the like
    make private to each namespace: runs beside their own pcscd do not wait for each other's
    slots, while runs on one stack still share the locks."""
    directory = Path(os.environ.get("STACK_STATE_DIR") or Path(tempfile.gettempdir()) / "vcard-stack")
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"vcard-e2e-slot{index}.lock"


def try_lock_slot(index: int):
    """The open, locked lease file of slot `index`, or None when another run holds it."""
    handle = open(slot_lock_path(index), "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@pytest.fixture
def both_slots(pcsc_context):
    """Leases both vpcd slots, for a bridge serving two cards. All or nothing: a partial lease
    is released before retrying, so two such tests (or one and a single-slot lease) cannot
    deadlock."""
    deadline = time.monotonic() + 300
    while True:
        handles = []
        for index in (0, 1):
            handle = try_lock_slot(index)
            if handle is None:
                break
            handles.append(handle)
        if len(handles) == 2:
            break
        for handle in handles:
            handle.close()
        if time.monotonic() > deadline:
            pytest.fail("both vpcd slots did not become free in 5 minutes")
        time.sleep(0.05)
    try:
        for index in (0, 1):
            try:
                wait_for_card(f"Virtual PCD 00 {index:02d}", present=False, timeout_s=2)
            except TimeoutError:
                pytest.fail(f"slot {index} holds a card the tests did not put there; "
                            "stop the other bridge (scripts/down.sh)")
        yield
    finally:
        for handle in handles:
            handle.close()


@pytest.fixture
def slot(pcsc_context):
    """Leases a vpcd slot (file lock shared with the Rust harness). A slot whose reader already
    holds a card the tests did not put there (scripts/up.sh's bridge) is left alone."""
    deadline = time.monotonic() + 300
    while True:
        foreign = []
        for index in (1, 0):
            handle = try_lock_slot(index)
            if handle is None:
                continue
            reader = f"Virtual PCD 00 {index:02d}"
            try:
                wait_for_card(reader, present=False, timeout_s=2)
            except TimeoutError:
                handle.close()
                foreign.append(reader)
                continue
            try:
                yield Slot(index, 35963 + index, reader)
            finally:
                handle.close()
            return
        if len(foreign) == 2:
            pytest.fail(f"both vpcd slots hold a card the tests did not put there ({foreign}); "
                        "stop the other bridge (scripts/down.sh)")
        if time.monotonic() > deadline:
            pytest.fail("no vpcd slot became free in 5 minutes")
        time.sleep(0.05)


@dataclass
class Bridge:
    process: subprocess.Popen
    reader: str
    atr: bytes
    state: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM) -> int:
        """Stops the bridge by its PID; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def start_bridge(pcsc_context, slot: Slot, state: Path, log: Path, *extra: str) -> Bridge:
    """Starts the reader-bridge binary on `slot` with `state` and waits for its card."""
    with open(log, "ab") as log_file:
        process = subprocess.Popen(
            [str(_bridge_binary()), "run", "--vpcd", f"127.0.0.1:{slot.port}",
             "--state", str(state), "-v", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        atr = wait_for_card(slot.reader, present=True)
    except TimeoutError as e:
        process.kill()
        process.wait()
        pytest.fail(f"{e}; bridge log:\n{log.read_text(errors='replace')}")
    return Bridge(process, slot.reader, atr, state, log)


def stop_bridge(pcsc_context, bridge: Bridge) -> None:
    """Stops the bridge by its PID and waits until pcscd saw the card go."""
    stop_bridge_process(bridge.process, bridge.reader)


@pytest.fixture
def bridge(pcsc_context, slot, tmp_path):
    """The reader-bridge binary serving a fresh card (temp state, fixed seed) on a leased slot."""
    started = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                           "--seed", "11")
    try:
        yield started
    finally:
        stop_bridge(pcsc_context, started)


def open_device(reader: str):
    """python-fido2's PC/SC device on the card in `reader` (exactly one)."""
    from fido2.pcsc import CtapPcscDevice

    devices = list(CtapPcscDevice.list_devices(reader))
    assert len(devices) == 1, f"{reader}: {devices}"
    return devices[0]


@pytest.fixture
def device(bridge):
    """python-fido2's PC/SC device on the bridge's card, closed before the bridge stops: a
    connection left to the garbage collector would disconnect later with SCARD_UNPOWER_CARD and
    power off whatever card is then in the reader."""
    opened = open_device(bridge.reader)
    yield opened
    opened.close()


class PinPrompt(UserInteraction):
    """A user who knows `pin` (None: the card has no PIN); the tap that powered the card is the
    presence. Counts how often the client asked for the PIN."""

    def __init__(self, pin: str | None):
        self.pin = pin
        self.asked = 0

    def prompt_up(self):
        pass

    def request_pin(self, permissions, rp_id):
        self.asked += 1
        return self.pin

    def request_uv(self, permissions, rp_id):
        return False


def cdh(tag: bytes) -> bytes:
    """A clientDataHash made from `tag`."""
    return hashlib.sha256(tag).digest()


def user(name: str) -> dict:
    """A CTAP user entity named `name`."""
    return {"id": name.encode(), "name": name, "displayName": name.title()}


def custom_profile(tmp_path: Path, name: str, **changes) -> Path:
    """The generic profile with some top-level keys replaced, as a profile file."""
    text = (REPO / "applet" / "profiles" / "generic.toml").read_text()
    text = re.sub(r'^id = .*$', f'id = "{name}"', text, count=1, flags=re.M)
    for key, value in changes.items():
        line = f"{key} = {value}"
        text, n = re.subn(rf"^{key} = .*$", line, text, count=1, flags=re.M)
        if n == 0:
            # Before the first table: top-level keys must precede [options].
            text = text.replace("\n[", f"\n{line}\n\n[", 1)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture
def bridge_with(pcsc_context, slot, tmp_path):
    """Starts a bridge with extra arguments; stops it (and closes devices first) at the end."""
    started = []
    devices = []

    def start(*extra: str):
        b = start_bridge(pcsc_context, slot, tmp_path / "state.bin", tmp_path / "bridge.log",
                         "--seed", "13", *extra)
        started.append(b)
        d = open_device(b.reader)
        devices.append(d)
        return b, d

    yield start
    for d in devices:
        d.close()
    for b in started:
        stop_bridge(pcsc_context, b)
