//! The ISO 7816-4 runtime's own cost: command chaining reassembly and GET RESPONSE, with an
//! applet that does nothing.

use apdu::{Applet, Card, CardConfig, Command, Response};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// Any 8-byte AID (the runtime knows nothing of FIDO): a proprietary one, RID F0 00 00 00 01
/// (ISO/IEC 7816-5 category F, not registered), PIX 00 01 02.
const AID: [u8; 8] = [0xF0, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x02];

/// Answers every command with the length of its data (2 bytes), or echoes it for INS 02.
struct Sink;

impl Applet for Sink {
    fn select(&mut self, _cmd: &Command) -> Response {
        Response::ok(Vec::new())
    }

    fn process(&mut self, cmd: &Command) -> Response {
        if cmd.ins == 0x02 {
            return Response::ok(cmd.data.clone());
        }
        let len = u16::try_from(cmd.data.len()).unwrap_or(u16::MAX);
        Response::ok(len.to_be_bytes().to_vec())
    }
}

fn card() -> Card {
    let mut card = Card::new(CardConfig::default());
    card.install(&AID, Box::new(Sink));
    card.power_on();
    let mut select = vec![0x00, 0xA4, 0x04, 0x00, AID.len() as u8];
    select.extend_from_slice(&AID);
    assert_eq!(card.transmit(&select), [0x90, 0x00]);
    card
}

/// `data` as chained short APDUs of 250 bytes (CLA 90 ... 80), Le = 00 on the last.
fn chained(ins: u8, data: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = data.chunks(250).collect();
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut apdu = vec![if i == last { 0x80 } else { 0x90 }, ins, 0, 0];
            apdu.push(chunk.len() as u8);
            apdu.extend_from_slice(chunk);
            if i == last {
                apdu.push(0);
            }
            apdu
        })
        .collect()
}

/// Sends `apdus` in turn; the answer to the last.
fn transmit_all(card: &mut Card, apdus: &[Vec<u8>]) -> Vec<u8> {
    let mut last = Vec::new();
    for apdu in apdus {
        last = card.transmit(black_box(apdu));
    }
    last
}

fn apdu(c: &mut Criterion) {
    let mut group = c.benchmark_group("apdu");
    let mut card = card();

    // A 1 200-byte command in five chained short APDUs (a makeCredential with a long
    // excludeList is of this size), reassembled by the runtime.
    let data: Vec<u8> = (0..1200u32).map(|i| i as u8).collect();
    let apdus = chained(0x01, &data);
    group.bench_function("chain_reassembly", |b| {
        b.iter(|| {
            let last = transmit_all(&mut card, &apdus);
            assert_eq!(last, [0x04, 0xB0, 0x90, 0x00]);
            black_box(last)
        })
    });

    // The same 1 200 bytes echoed back: chaining in, then 61xx + GET RESPONSE out.
    let echo = chained(0x02, &data);
    group.bench_function("chain_and_get_response", |b| {
        b.iter(|| {
            let mut resp = transmit_all(&mut card, &echo);
            let mut total = resp.len() - 2;
            while resp[resp.len() - 2] == 0x61 {
                resp = card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x00]);
                total += resp.len() - 2;
            }
            assert_eq!(total, data.len());
            black_box(total)
        })
    });

    let single = vec![0x80, 0x01, 0x00, 0x00, 0x01, 0xAA, 0x00];
    group.bench_function("single_short", |b| {
        b.iter(|| black_box(card.transmit(black_box(&single))))
    });
    group.finish();
}

criterion_group!(benches, apdu);
criterion_main!(benches);
