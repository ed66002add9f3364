//! `fido-check --host windows`: the Windows persona ([`fido_host::persona::windows`]) played
//! against the card, its steps reported like the compatibility checks (text, JSON, JUnit).
//!
//! A skipped step is one Windows itself would not offer for this card (e.g. passkey management
//! on a card without credentialManagement) or one the options leave out (reset without
//! `--allow-reset`); it does not count against the card. A failed step does.

use std::time::Duration;

use fido_host::Client;
use fido_host::persona::{StepStatus, windows};

use super::{CheckResult, Run};

/// Where the persona's behaviour comes from, for every step's `source`.
pub const WINDOWS_SOURCE: &str = "Windows persona (fido_host::persona::windows): docs/nfc-binding.md \
     (Windows' framing from its event log), Microsoft's security-key documentation, CTAP 2.1";

/// Plays the Windows persona with `opts`, sleeping for real where it waits (the too-late reset
/// waits 11 s after insertion).
pub fn run_windows(client: &mut Client, opts: &windows::Options) -> Run {
    let atr = client.atr().unwrap_or_default();
    let steps = windows::run(client, opts, &mut |d: Duration| std::thread::sleep(d));
    let info = client.get_info().ok();
    // Passkeys the persona could not delete (no credential management on the card).
    let leftovers = steps
        .iter()
        .filter(|s| s.status == StepStatus::Skip && s.name == "settings-delete-passkeys")
        .filter_map(|s| {
            s.summary
                .split("; ")
                .find(|p| p.contains("stay on the card"))
        })
        .map(str::to_owned)
        .collect();
    let results = steps
        .into_iter()
        .map(|s| CheckResult {
            id: s.name,
            title: s.title,
            source: WINDOWS_SOURCE,
            required: s.status != StepStatus::Skip,
            status: s.status,
            summary: s.summary,
            notes: Vec::new(),
            evidence: s.evidence,
        })
        .collect();
    Run {
        atr,
        aaguid: info
            .as_ref()
            .and_then(|i| i.aaguid)
            .map(|a| fido_host::format_aaguid(&a)),
        versions: info.map(|i| i.versions).unwrap_or_default(),
        results,
        leftovers,
    }
}
