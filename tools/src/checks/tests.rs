//! Unit tests of the checks against scripted and virtual cards.

use super::*;
use fido_applet::platform::Platform;
use fido_applet::profile::Profile;
use fido_host::{Transport, TransportError, VirtualCard};

/// A scripted card: answers each command with what `respond` says.
struct Scripted<F: FnMut(&[u8]) -> Vec<u8>> {
    respond: F,
    atr: Vec<u8>,
}

impl<F: FnMut(&[u8]) -> Vec<u8>> Transport for Scripted<F> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok((self.respond)(apdu))
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        Ok(self.atr.clone())
    }
    fn power_cycle(&mut self) -> Result<(), TransportError> {
        Err(TransportError("no power control".into()))
    }
}

/// The real applet with its answers rewritten by `tamper(command, answer)`.
struct Tampered<F: FnMut(&[u8], Vec<u8>) -> Vec<u8>> {
    inner: VirtualCard,
    tamper: F,
}

impl<F: FnMut(&[u8], Vec<u8>) -> Vec<u8>> Transport for Tampered<F> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let r = self.inner.transmit(apdu)?;
        Ok((self.tamper)(apdu, r))
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        self.inner.atr()
    }
    fn power_cycle(&mut self) -> Result<(), TransportError> {
        self.inner.power_cycle()
    }
}

fn virtual_card() -> VirtualCard {
    let profile = Profile::generic();
    VirtualCard {
        atr: profile.atr.clone(),
        card: fido_applet::CardBuilder::new(profile)
            .platform(Platform::seeded(11))
            .build()
            .expect("card"),
    }
}

fn find<'a>(run: &'a Run, id: &str) -> &'a CheckResult {
    run.results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

fn pin_opts() -> Options {
    Options {
        pin: Some("123456".into()),
        ..Options::default()
    }
}

#[test]
fn no_fido_applet_stops_after_select() {
    let mut client = Client::new(Box::new(Scripted {
        respond: |_: &[u8]| vec![0x6A, 0x82],
        atr: vec![0x3B, 0x80, 0x80, 0x01, 0x01],
    }));
    let run = run(&mut client, &pin_opts());
    assert_eq!(run.results.len(), 1);
    assert_eq!(run.results[0].status, Status::Fail);
    assert!(run.results[0].summary.contains("6A82"));
    assert_eq!(
        run.results[0].evidence[0].exchanges[0].command,
        apdu::hex_decode("00A4040008A0000006472F000100").expect("hex")
    );
    assert!(!run.passed());
}

/// A card that answers everything at once, whatever Le says (as some cards do).
struct IgnoresLe(VirtualCard);

impl Transport for IgnoresLe {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        match apdu::Command::decode(apdu) {
            Ok(cmd) if !cmd.extended && cmd.le.is_some() && !cmd.is_chained() => {
                let whole = apdu::Command::new(cmd.cla, cmd.ins, cmd.p1, cmd.p2)
                    .with_data(cmd.data)
                    .with_le(65536)
                    .extended();
                let bytes = whole
                    .encode()
                    .ok_or_else(|| TransportError("cannot re-encode".into()))?;
                self.0.transmit(&bytes)
            }
            _ => self.0.transmit(apdu),
        }
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        self.0.atr()
    }
    fn power_cycle(&mut self) -> Result<(), TransportError> {
        self.0.power_cycle()
    }
}

#[test]
fn a_card_that_ignores_short_le_cannot_show_get_response() {
    let mut client = Client::new(Box::new(IgnoresLe(virtual_card())));
    let run = run(&mut client, &pin_opts());
    let r = find(&run, "nfc-get-response");
    assert_eq!(r.status, Status::Skip, "{}", r.summary);
    assert!(!r.required, "not applicable: does not count");
    assert!(r.summary.contains("without 61xx"));
}

#[test]
fn broken_chaining_fails_the_chaining_check() {
    let link = Tampered {
        inner: virtual_card(),
        tamper: |c: &[u8], r: Vec<u8>| {
            if c.first() == Some(&0x90) {
                vec![0x68, 0x84]
            } else {
                r
            }
        },
    };
    let mut client = Client::new(Box::new(link));
    let run = run(&mut client, &pin_opts());
    let r = find(&run, "nfc-chaining");
    assert_eq!(r.status, Status::Fail);
    assert!(r.summary.contains("6884"), "{}", r.summary);
    assert!(!run.passed());
}

#[test]
fn non_canonical_answers_fail_the_canonical_check() {
    // getPINRetries answers {3: n, …}; encode n in two bytes (18 0n): valid CBOR, not canonical.
    let link = Tampered {
        inner: virtual_card(),
        tamper: |c: &[u8], r: Vec<u8>| match (
            c.get(5),
            c.ends_with(&[0x02, 0x01, 0x00]),
            r.as_slice(),
        ) {
            (Some(0x06), true, [0x00, map @ (0xA1 | 0xA2), 0x03, n, rest @ ..]) if *n < 24 => {
                let mut out = vec![0x00, *map, 0x03, 0x18, *n];
                out.extend_from_slice(rest);
                out
            }
            _ => r,
        },
    };
    let mut client = Client::new(Box::new(link));
    let run = run(&mut client, &pin_opts());
    assert_eq!(
        find(&run, "client-pin").status,
        Status::Pass,
        "decoded fine"
    );
    let r = find(&run, "canonical-cbor");
    assert_eq!(r.status, Status::Fail, "{}", r.summary);
    assert!(r.summary.contains("getPINRetries"), "{}", r.summary);
    assert!(!run.passed());
}

#[test]
fn garbage_from_the_card_never_panics() {
    for seed in 0..40u32 {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let link = Scripted {
            respond: move |c: &[u8]| {
                // SELECT works so that the run goes on; everything else is noise, sometimes
                // dressed as a CTAP answer.
                if c.get(1) == Some(&0xA4) {
                    return b"FIDO_2_0\x90\x00".to_vec();
                }
                let len = (next() % 90) as usize;
                let mut r: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                match next() % 4 {
                    0 => r.extend_from_slice(&[0x90, 0x00]),
                    1 => r.extend_from_slice(&[0x61, (next() % 5) as u8]),
                    _ => {}
                }
                r
            },
            atr: vec![0x3B],
        };
        let mut client = Client::new(Box::new(link));
        let run = run(&mut client, &pin_opts());
        assert!(!run.passed());
        let _ = crate::report::text(&run, "noise");
        let _ = crate::report::json(&run, "noise");
        let _ = crate::report::junit(&run, "noise");
    }
}

#[test]
fn atr_card_capabilities() {
    // Generic profile: 3B 88 80 01 | 80 56 "VFIDO2" | TCK: no card capabilities.
    let generic = Profile::generic().atr;
    assert_eq!(atr_declares_extended(&generic), None);
    // Historical bytes 80 73 00 00 40 (tag 7, 3 bytes, extended Lc/Le bit set).
    let hist = [0x80, 0x73, 0x00, 0x00, 0x40];
    let mut atr = vec![0x3B, 0x80 | hist.len() as u8, 0x80, 0x01];
    atr.extend_from_slice(&hist);
    atr.push(0x00);
    assert_eq!(atr_declares_extended(&atr), Some(true));
    let mut no = atr.clone();
    no[8] = 0x00;
    assert_eq!(atr_declares_extended(&no), Some(false));
    assert_eq!(atr_declares_extended(&[0x3B]), None);
    assert_eq!(atr_declares_extended(&[]), None);
    assert_eq!(atr_declares_extended(&[0x3B, 0xFF, 0xFF]), None);
}

#[test]
fn get_info_probes_are_the_expected_apdus() {
    assert_eq!(
        transport::get_info_apdu(Length::Short, 0x10),
        [0x80, 0x10, 0x00, 0x00, 0x01, 0x04, 0x10]
    );
    assert_eq!(
        transport::get_info_apdu(Length::Extended, 0x00),
        [0x80, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00]
    );
}

#[test]
fn host_windows_reports_the_persona_step_by_step() {
    let mut client = Client::new(Box::new(virtual_card()));
    let opts = fido_host::persona::windows::Options::default();
    let run = host::run_windows(&mut client, &opts);
    assert!(run.passed(), "{}", crate::report::text(&run, "virtual"));
    assert_eq!(find(&run, "detect").status, Status::Pass);
    // Without --allow-reset the reset flows are skipped, and the skip does not count.
    let reset = find(&run, "settings-reset");
    assert_eq!(reset.status, Status::Skip);
    assert!(!reset.blocks());
    assert_eq!(find(&run, "settings-delete-passkeys").status, Status::Pass);
    let json: serde_json::Value =
        serde_json::from_str(&crate::report::json(&run, "virtual")).expect("json");
    assert_eq!(json["passed"], true);
    assert!(
        json["checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["id"] == "webauthn-sign-in-allow-list"))
    );
}

#[test]
fn host_windows_fails_a_card_that_refuses_get_response_with_cla_80() {
    // Windows follows 61xx with CLA 80 (docs/nfc-binding.md); a card that accepts only CLA 00
    // leaves Windows without the answer.
    let card = Tampered {
        inner: virtual_card(),
        tamper: |c: &[u8], r: Vec<u8>| {
            if c.starts_with(&[0x80, 0xC0]) {
                vec![0x6E, 0x00]
            } else {
                r
            }
        },
    };
    let mut client = Client::new(Box::new(card));
    let run = host::run_windows(
        &mut client,
        &fido_host::persona::windows::Options::default(),
    );
    assert!(!run.passed(), "{}", crate::report::text(&run, "tampered"));
    assert!(
        run.results.iter().any(|r| r.status == Status::Fail
            && r.evidence
                .iter()
                .flat_map(|op| &op.exchanges)
                .any(|e| e.command.starts_with(&[0x80, 0xC0]))),
        "{}",
        crate::report::text(&run, "tampered")
    );
}
