"""The card under test: pcscd + vsmartcard's vpcd + reader-bridge, driven through the bridge's
control endpoint (a Unix socket speaking JSON lines).

Environment:
- RP_CI_BRIDGE: the reader-bridge binary (default: `reader-bridge` on PATH, else this
  repository's target/debug/reader-bridge);
- RP_CI_SLOT: the vpcd slot to use, 0 or 1 (default: the first whose reader is empty);
- RP_CI_START_PCSCD=0: never start pcscd (by default one is started when no "Virtual PCD"
  reader is visible; that needs the vsmartcard-vpcd package and permission to run pcscd).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from smartcard.scard import (
    SCARD_S_SUCCESS,
    SCARD_SCOPE_USER,
    SCardEstablishContext,
    SCardListReaders,
    SCardReleaseContext,
)

from card_stack import Control, stop_bridge_process, wait_for_card

VPCD_BASE_PORT = 35963


def bridge_binary() -> str:
    if os.environ.get("RP_CI_BRIDGE"):
        return os.environ["RP_CI_BRIDGE"]
    on_path = shutil.which("reader-bridge")
    if on_path:
        return on_path
    built = Path(__file__).resolve().parents[2] / "target" / "debug" / "reader-bridge"
    if built.is_file():
        return str(built)
    pytest.fail("no reader-bridge: set RP_CI_BRIDGE or put it on PATH")


def virtual_readers() -> list[str]:
    hresult, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if hresult != SCARD_S_SUCCESS:
        return []
    try:
        hresult, readers = SCardListReaders(ctx, [])
        return [r for r in readers or [] if r.startswith("Virtual PCD")]
    finally:
        SCardReleaseContext(ctx)


@pytest.fixture(scope="session")
def stack():
    """pcscd with vpcd: the running one, or one started here (stopped at the end, by PID)."""
    if virtual_readers():
        yield
        return
    if os.environ.get("RP_CI_START_PCSCD") == "0" or not shutil.which("pcscd"):
        pytest.fail("no pcscd with vsmartcard's vpcd: install pcscd and vsmartcard-vpcd")
    process = subprocess.Popen(["pcscd", "--foreground"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not virtual_readers():
        if time.monotonic() > deadline:
            process.terminate()
            pytest.fail("pcscd started but shows no 'Virtual PCD' reader (is vpcd installed?)")
        time.sleep(0.1)
    yield
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


@dataclass
class Card:
    reader: str
    control: Control
    log: Path

    @contextmanager
    def connected(self):
        """python-fido2's view of the card for a `with` block, closed at its end: a connection
        left to the garbage collector would disconnect later and power off whatever card is
        then in the reader."""
        device = self.device()
        try:
            yield device
        finally:
            device.close()

    def device(self, timeout_s: float = 5):
        """python-fido2's view of the card (open a new one after a removal or a tap). Right
        after an insertion pcscd may still be settling the reader's state: retried briefly."""
        from fido2.pcsc import CtapPcscDevice
        from smartcard.System import readers

        wait_for_card(self.reader, present=True)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                reader = next(r for r in readers() if str(r) == self.reader)
                return CtapPcscDevice(reader.createConnection(), self.reader)
            except Exception as e:  # noqa: BLE001 - retried, then reported
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.reader}: cannot open the card: {e!r}") from e
                time.sleep(0.1)


def free_slot() -> int:
    if os.environ.get("RP_CI_SLOT"):
        return int(os.environ["RP_CI_SLOT"])
    for slot in (0, 1):
        try:
            wait_for_card(f"Virtual PCD 00 {slot:02d}", present=False, timeout_s=1)
            return slot
        except TimeoutError:
            continue
    pytest.fail("both vpcd slots hold a card: stop the other bridge or set RP_CI_SLOT")


@pytest.fixture
def card(stack, tmp_path):
    """A fresh virtual FIDO2 card with a control endpoint, in its own vpcd slot."""
    slot = free_slot()
    reader = f"Virtual PCD 00 {slot:02d}"
    sock = tmp_path / "card.sock"
    log = tmp_path / "bridge.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [bridge_binary(), "run", "--vpcd", f"127.0.0.1:{VPCD_BASE_PORT + slot}",
             "--state", str(tmp_path / "state.bin"), "--control", str(sock),
             "--trace", str(tmp_path / "trace.jsonl")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out)
    try:
        wait_for_card(reader, present=True)
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield Card(reader, Control(sock), log)
    finally:
        stop_bridge_process(process, reader, timeout_s=5)
