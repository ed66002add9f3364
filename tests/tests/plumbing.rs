//! The vpcd plumbing through the real pcscd, with a stand-in applet (test code only): the bridge
//! library serves an `apdu::Card` holding an echo applet in a thread, and the `pcsc` crate talks
//! to it through pcscd and vpcd. Checks what the transport must carry whatever the applet is:
//! extended-length APDUs, command chaining, 61xx + GET RESPONSE (CLA 00 and 80), power events,
//! and the round-trip latency that TCP_NODELAY + TCP_QUICKACK buy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use apdu::{Applet, Card, CardConfig, Command, PowerEvent, Response};
use integration_tests::{CARD_TIMEOUT, Client, Slot, stack_slot, wait_for_card};
use reader_bridge::{Bridge, BridgeCard};

const AID: [u8; 7] = [0xF0, 0x76, 0x63, 0x61, 0x72, 0x64, 0x01];
const ATR: [u8; 10] = [0x3B, 0x85, 0x80, 0x01, 0x45, 0x43, 0x48, 0x4F, 0x21, 0x00];

/// INS 01: echo the data. INS 02: answer P1P2 bytes of a counting pattern. INS 03: number of
/// power events seen.
struct Echo {
    power_events: u8,
}

impl Applet for Echo {
    fn select(&mut self, _cmd: &Command) -> Response {
        Response::ok(b"ECHO".to_vec())
    }
    fn process(&mut self, cmd: &Command) -> Response {
        match cmd.ins {
            0x01 => Response::ok(cmd.data.clone()),
            0x02 => {
                let n = usize::from(u16::from_be_bytes([cmd.p1, cmd.p2]));
                Response::ok((0..n).map(|i| (i % 251) as u8).collect())
            }
            0x03 => Response::ok(vec![self.power_events]),
            _ => Response::status(apdu::StatusWord::INS_NOT_SUPPORTED),
        }
    }
    fn power_event(&mut self, _event: PowerEvent) {
        self.power_events = self.power_events.wrapping_add(1);
    }
}

fn atr_with_tck() -> Vec<u8> {
    let mut atr = ATR.to_vec();
    let tck = atr[1..atr.len() - 1].iter().fold(0, |a, b| a ^ b);
    if let Some(last) = atr.last_mut() {
        *last = tck;
    }
    atr
}

struct InProcess {
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl InProcess {
    fn start(slot: &Slot) -> InProcess {
        let mut card = Card::new(CardConfig::default());
        card.install(&AID, Box::new(Echo { power_events: 0 }));
        let mut card = BridgeCard::new(card, atr_with_tck());
        let shutdown = Arc::new(AtomicBool::new(false));
        let mut bridge = Bridge::new(&slot.vpcd(), Arc::clone(&shutdown)).expect("bridge");
        let thread = std::thread::spawn(move || bridge.run(&mut card));
        InProcess {
            shutdown,
            thread: Some(thread),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the echo card in `slot`, waits until pcscd sees it (returning its ATR) and connects a
/// client that has selected the echo applet.
fn echo_client(ctx: &pcsc::Context, slot: &Slot) -> (InProcess, Client, Vec<u8>) {
    let bridge = InProcess::start(slot);
    let atr = wait_for_card(ctx, &slot.reader, true, CARD_TIMEOUT).expect("card appears");
    let mut client = Client::connect(ctx, &slot.reader);
    select_echo(&mut client);
    (bridge, client, atr)
}

fn select_echo(client: &mut Client) {
    let (data, sw) = client.send("00A4040007F076636172640100");
    assert_eq!((data.as_slice(), sw), (&b"ECHO"[..], 0x9000));
}

#[test]
fn extended_chained_get_response_and_latency() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    let (_bridge, mut client, atr) = echo_client(&ctx, &slot);
    assert_eq!(atr, atr_with_tck(), "pcscd reports the bridge's ATR");

    // Extended length both ways: 4000 bytes in, echoed back in one response.
    let payload: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut apdu = vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x0F, 0xA0];
    apdu.extend_from_slice(&payload);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let (data, sw) = integration_tests::split(client.raw(&apdu));
    assert_eq!(sw, 0x9000);
    assert_eq!(data, payload);

    // A 60000-byte response to one extended APDU (Le 0000 = 65536).
    let (data, sw) =
        integration_tests::split(client.raw(&[0x00, 0x02, 0xEA, 0x60, 0x00, 0x00, 0x00]));
    assert_eq!(sw, 0x9000);
    assert_eq!(data.len(), 60000);
    assert!(data.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));

    // Command chaining (CLA 10) of 2000 bytes in 250-byte parts, python-fido2 style.
    let chunks: Vec<&[u8]> = payload[..2000].chunks(250).collect();
    let mut assembled = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let mut apdu = vec![
            if last { 0x00 } else { 0x10 },
            0x01,
            0x00,
            0x00,
            chunk.len() as u8,
        ];
        apdu.extend_from_slice(chunk);
        if last {
            apdu.push(0x00);
        }
        let (data, sw) = integration_tests::split(client.raw(&apdu));
        if !last {
            assert_eq!((data.len(), sw), (0, 0x9000), "chained part {i}");
            continue;
        }
        // The 2000-byte answer comes in 256-byte parts with 61xx; follow with GET RESPONSE,
        // alternating CLA 00 (ISO, python-fido2) and CLA 80 (Windows, libfido2).
        assembled.extend_from_slice(&data);
        let mut sw = sw;
        let mut round = 0;
        while sw >> 8 == 0x61 {
            let cla = if round % 2 == 0 { 0x00 } else { 0x80 };
            let (more, next) =
                integration_tests::split(client.raw(&[cla, 0xC0, 0x00, 0x00, sw as u8]));
            assembled.extend_from_slice(&more);
            sw = next;
            round += 1;
        }
        assert_eq!(sw, 0x9000);
        assert!(round >= 7, "2000 bytes need 7 GET RESPONSEs, got {round}");
    }
    assert_eq!(assembled, payload[..2000]);

    // A response longer than a short Le: 61xx, then GET RESPONSE with CLA 80.
    let (data, sw) = client.send("0002001000");
    assert_eq!((data.len(), sw), (16, 0x9000));
    let (data, sw) = client.send("0002012C0A");
    assert_eq!(
        (data.len(), sw),
        (10, 0x6100),
        "290 bytes left: 61 00 means 256 or more"
    );
    let (rest, sw) = client.send("80C00000FF");
    assert_eq!(sw, 0x61_00 | (300 - 10 - 255) as u16);
    let (tail, sw) = client.send(&format!("80C00000{:02X}", 300 - 10 - 255));
    assert_eq!(sw, 0x9000);
    assert_eq!(data.len() + rest.len() + tail.len(), 300);

    // Round-trip latency: with TCP_NODELAY and TCP_QUICKACK a trivial APDU takes well under a
    // millisecond; without them ~44 ms (delayed ACKs). 100 APDUs must take far less than 100 * 44 ms.
    let start = Instant::now();
    for _ in 0..100 {
        let (_, sw) = client.send("0001000001AA");
        assert_eq!(sw, 0x9000);
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_millis(1500),
        "100 APDUs took {elapsed:?}: TCP_NODELAY / TCP_QUICKACK not effective?"
    );
}

#[test]
fn disconnect_with_reset_clears_selection() {
    let Some((ctx, slot)) = stack_slot() else {
        return;
    };
    let (_bridge, mut client, _) = echo_client(&ctx, &slot);
    let (events_before, _) = client.send("0003000001");
    client
        .card
        .disconnect(pcsc::Disposition::ResetCard)
        .map_err(|(_, e)| e)
        .expect("disconnect with reset");
    let mut client = Client::connect(&ctx, &slot.reader);
    // No applet selected after the reset: the card answers 6D00 for INS 03.
    let (_, sw) = client.send("0003000001");
    assert_eq!(sw, 0x6D00, "a warm reset deselects the applet");
    select_echo(&mut client);
    let (events_after, _) = client.send("0003000001");
    assert!(
        events_after[0] > events_before[0],
        "the reset reached the applet as a power event"
    );
}
