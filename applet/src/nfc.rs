//! The CTAP NFC binding (CTAP 2.1 §11.3) on top of ISO/IEC 7816-4.
//!
//! - SELECT of [`ctap_types::nfc::FIDO_AID`] answers the version string: "U2F_V2" on a card that speaks
//!   U2F (and has not disabled it with alwaysUv), "FIDO_2_0" on a CTAP2-only card — clients
//!   learn the CTAP2 versions from getInfo.
//! - NFCCTAP_MSG (`80 10 P1 00`, P1 = 00, or 80 when the client supports NFCCTAP_GETRESPONSE)
//!   carries `command byte || CBOR`; the answer is `status byte || CBOR` with SW 9000 — CTAP
//!   errors travel as that status byte, never as a status word.
//! - NFCCTAP_GETRESPONSE (`80 11 P1 00`): see "Status updates" below.
//! - NFCCTAP_CONTROL END (`80 12 01 00`): the platform is done with CTAP (Windows sends it before
//!   falling back to U2F); CTAP commands get 6985 until the applet is selected again. U2F keeps
//!   working.
//! - U2F raw messages (CLA 00, INS 01-03) go to [`crate::u2f`] on a U2F card; with alwaysUv on
//!   they are refused with 6986 (CTAP 2.1 §6.11.2), and a card without U2F answers 6D00.
//!
//! ISO status words answer only ISO-level problems. An unknown INS is 6D00, not 6E00: Windows
//! treats 6D00 to a CTAP2 probe as "no CTAP2, try U2F" but rejects the card on 6E00.
//!
//! ## Status updates (NFCCTAP_GETRESPONSE, 9100)
//!
//! A real card that needs longer than it may hold the field (or waits for a touch) answers
//! `91 00` with one status byte — [`status::PROCESSING`] or [`status::UP_NEEDED`] — and the
//! client polls with `80 11 00 00` (python-fido2: every 100 ms) until the final answer comes;
//! `80 11 11 00` cancels.
//!
//! This applet is sans-IO and synchronous: a command is always finished by the time
//! `process` returns, and there is no second thread to keep working while the client polls. So
//! the binding *models* the behaviour, honestly rather than literally: it times each
//! NFCCTAP_MSG on the platform [`crate::platform::Clock`]; when the client allowed status
//! updates (P1 bit 0x80), the profile has a processing budget
//! ([`crate::profile::Profile::processing_budget_ms`], 0 = never) and the command took longer
//! than that, the finished answer is held and `91 00` goes out instead. The status byte is
//! UP_NEEDED when the command tested user presence, PROCESSING otherwise: the authenticator
//! says which in its [`crate::ctap::Reply`], so the CTAP command handlers know nothing of this
//! binding. The first poll releases the held answer (by then the work is long done). A cancel
//! drops it and answers CTAP2_ERR_KEEPALIVE_CANCEL — but the command's effects stand: the cancel
//! arrived after the card committed, as when a real card wins the race against a cancel. Any
//! other command, a deselect or a power event also drops a held answer. P1 = 00 (libfido2,
//! Windows) never gets 9100.
//!
//! ## Waiting for the user ([`crate::presence`])
//!
//! Under the `manual` and `wait MS` presence policies a command that tests presence meets an
//! undecided request and stops before it has written anything ([`Presence::Waiting`]). The
//! binding keeps the message and:
//! - to a client that allowed status updates (P1 = 80) answers `91 00` UP_NEEDED, and again to
//!   every poll while the gate is undecided; once it is decided (a touch, a policy change, the
//!   deadline on the card's clock) the next poll runs the command again, which takes the
//!   decision and answers for real: its result, CTAP2_ERR_OPERATION_DENIED or
//!   CTAP2_ERR_USER_ACTION_TIMEOUT. A cancel drops the request (recorded as cancelled) and
//!   answers CTAP2_ERR_KEEPALIVE_CANCEL; here nothing was written, so nothing stands.
//! - to a client that did not (P1 = 00), which must never see `91 00`, the answer has to be
//!   *held*: the card would simply not answer yet. This applet cannot block, so it answers
//!   `91 00` UP_NEEDED to its **driver**. The driver's rule: a `91 00` answer to an
//!   NFCCTAP_MSG whose P1 lacks bit 0x80 is never forwarded; the driver (the reader bridge)
//!   waits — for a touch or a policy change on the shared [`crate::presence::PresenceGate`],
//!   polling `80 11 00 00` itself every few tens of milliseconds so that the card's clock
//!   can time the request out — and forwards the first answer that is not `91 00` as the
//!   answer to the client's command.
//! - U2F has no way to wait: REGISTER and AUTHENTICATE (enforce presence) answer 6985 while the
//!   request is undecided, and the host retries the same APDU (U2F Raw Message Formats §4.3,
//!   §5.4); the retry after the touch succeeds. Any other command drops the request.

use apdu::{Applet, Command, PowerEvent, Response, StatusWord};

use crate::FidoApplet;
use crate::ctap::Presence;
use crate::ctap::get_info::u2f_enabled;
use crate::presence::Outcome;
use crate::u2f;
use ctap_types::CtapError;
use ctap_types::u2f::{
    INS_AUTHENTICATE as U2F_INS_AUTHENTICATE, INS_REGISTER as U2F_INS_REGISTER,
    INS_VERSION as U2F_INS_VERSION,
};

use ctap_types::nfc::{
    CONTROL_END, GETRESPONSE_CANCEL, GETRESPONSE_POLL, MSG_GETRESPONSE_SUPPORTED, VERSION_FIDO_2_0,
    VERSION_U2F_V2, ins, status,
};

/// 9100: CTAP status update; the data byte says processing / user presence needed
/// (CTAP 2.1 §11.3.9, NFCCTAP_GETRESPONSE). Not an ISO 7816-4 status word, so it lives with
/// the binding that defines it rather than in `apdu`.
pub const CTAP_STATUS_UPDATE: StatusWord = StatusWord(ctap_types::nfc::SW_STATUS_UPDATE);

/// What the binding holds between an NFCCTAP_MSG and the NFCCTAP_GETRESPONSE after it.
#[derive(Debug)]
pub(crate) enum Held {
    /// A finished answer held back behind `91 00` (the processing budget).
    Answer(Vec<u8>),
    /// A CTAP command suspended for user presence, run again once the gate is decided.
    Presence {
        message: Vec<u8>,
        arrived_ms: u64,
        /// The client allowed status updates (P1 = 80); otherwise the driver holds the answer.
        status_updates: bool,
    },
}

impl Applet for FidoApplet {
    fn select(&mut self, _cmd: &Command) -> Response {
        self.ended = false;
        self.drop_held();
        let version = if u2f_enabled(&self.authenticator) {
            VERSION_U2F_V2
        } else {
            VERSION_FIDO_2_0
        };
        Response::ok(version.to_vec())
    }

    fn deselect(&mut self) {
        self.ended = false;
        self.drop_held();
        self.authenticator.deselect();
    }

    fn process(&mut self, cmd: &Command) -> Response {
        // The runtime strips the chaining bit; only the interindustry (00) and proprietary (80)
        // classes of the basic channel are ours.
        if !matches!(cmd.cla, 0x00 | 0x80) {
            return StatusWord::CLA_NOT_SUPPORTED.into();
        }
        // A held answer (or a command waiting for the user) is for the NFCCTAP_GETRESPONSE
        // right after it; a U2F request waiting for the user, for the same APDU again.
        if cmd.ins != ins::NFCCTAP_GETRESPONSE {
            self.held = None;
        }
        if self.u2f_waiting.as_ref() != Some(cmd) {
            self.u2f_waiting = None;
        }
        if self.held.is_none() && self.u2f_waiting.is_none() {
            self.authenticator
                .platform
                .presence
                .drop_pending(Outcome::Abandoned);
        }
        match (cmd.cla, cmd.ins) {
            (_, ins::NFCCTAP_MSG) => self.nfcctap_msg(cmd),
            (_, ins::NFCCTAP_GETRESPONSE) => self.nfcctap_getresponse(cmd),
            (_, ins::NFCCTAP_CONTROL) => self.nfcctap_control(cmd),
            (0x00, U2F_INS_REGISTER | U2F_INS_AUTHENTICATE | U2F_INS_VERSION)
                if self.authenticator.profile().u2f() =>
            {
                self.u2f(cmd)
            }
            _ => StatusWord::INS_NOT_SUPPORTED.into(),
        }
    }

    fn power_event(&mut self, event: PowerEvent) {
        self.ended = false;
        self.drop_held();
        self.authenticator.power_event(event);
    }
}

impl FidoApplet {
    /// Drops whatever is held; a presence request still waiting is recorded as abandoned.
    fn drop_held(&mut self) {
        self.held = None;
        self.u2f_waiting = None;
        self.authenticator
            .platform
            .presence
            .drop_pending(Outcome::Abandoned);
    }

    fn nfcctap_msg(&mut self, cmd: &Command) -> Response {
        if self.ended {
            return StatusWord::CONDITIONS_NOT_SATISFIED.into();
        }
        if !matches!(cmd.p1, 0x00 | MSG_GETRESPONSE_SUPPORTED) || cmd.p2 != 0x00 {
            return StatusWord::INCORRECT_P1P2.into();
        }
        if cmd.data.is_empty() {
            // No CTAP command byte: the APDU itself is malformed.
            return StatusWord::WRONG_LENGTH.into();
        }
        let auth = &mut self.authenticator;
        let started = auth.platform.clock.now_ms();
        let reply = auth.process_arrived_at(&cmd.data, started);
        let status_updates = cmd.p1 & MSG_GETRESPONSE_SUPPORTED != 0;
        if reply.presence == Presence::Waiting {
            tracing::debug!(status_updates, "waiting for user presence");
            self.held = Some(Held::Presence {
                message: cmd.data.clone(),
                arrived_ms: started,
                status_updates,
            });
            return Response::new(vec![status::UP_NEEDED], CTAP_STATUS_UPDATE);
        }
        let elapsed = auth.platform.clock.now_ms().saturating_sub(started);
        let budget = auth.profile.processing_budget_ms;
        if status_updates && budget > 0 && elapsed > budget {
            let status = match reply.presence {
                Presence::Tested | Presence::Waiting => status::UP_NEEDED,
                Presence::NotTested => status::PROCESSING,
            };
            tracing::debug!(elapsed, budget, status, "holding the answer behind 9100");
            self.held = Some(Held::Answer(reply.data));
            return Response::new(vec![status], CTAP_STATUS_UPDATE);
        }
        Response::ok(reply.data)
    }

    /// NFCCTAP_GETRESPONSE: releases (P1 00) or cancels (P1 11) a held answer; 6985 when there
    /// is none. A command waiting for the user answers `91 00` UP_NEEDED again until the gate
    /// is decided, then runs again and answers.
    fn nfcctap_getresponse(&mut self, cmd: &Command) -> Response {
        if cmd.p2 != 0x00 || !matches!(cmd.p1, GETRESPONSE_POLL | GETRESPONSE_CANCEL) {
            return StatusWord::INCORRECT_P1P2.into();
        }
        let Some(held) = self.held.take() else {
            return StatusWord::CONDITIONS_NOT_SATISFIED.into();
        };
        let cancel = Response::ok(vec![CtapError::KeepaliveCancel.code()]);
        match held {
            Held::Answer(_) if cmd.p1 == GETRESPONSE_CANCEL => cancel,
            Held::Answer(data) => Response::ok(data),
            Held::Presence { .. } if cmd.p1 == GETRESPONSE_CANCEL => {
                let gate = &self.authenticator.platform.presence;
                gate.drop_pending(Outcome::Cancelled);
                cancel
            }
            Held::Presence {
                message,
                arrived_ms,
                status_updates,
            } => {
                let auth = &mut self.authenticator;
                let now = auth.platform.clock.now_ms();
                if !auth.platform.presence.is_decided(now) {
                    self.held = Some(Held::Presence {
                        message,
                        arrived_ms,
                        status_updates,
                    });
                    return Response::new(vec![status::UP_NEEDED], CTAP_STATUS_UPDATE);
                }
                let reply = auth.process_arrived_at(&message, arrived_ms);
                if reply.presence == Presence::Waiting {
                    // A second presence test in one command (none does so today): wait again.
                    self.held = Some(Held::Presence {
                        message,
                        arrived_ms,
                        status_updates,
                    });
                    return Response::new(vec![status::UP_NEEDED], CTAP_STATUS_UPDATE);
                }
                Response::ok(reply.data)
            }
        }
    }

    fn nfcctap_control(&mut self, cmd: &Command) -> Response {
        if cmd.p1 != CONTROL_END || cmd.p2 != 0x00 {
            return StatusWord::INCORRECT_P1P2.into();
        }
        self.ended = true;
        self.authenticator.end_session();
        StatusWord::OK.into()
    }

    /// A U2F command: like any other command it ends the CTAP session state (getNextAssertion,
    /// credential-management enumerations).
    fn u2f(&mut self, cmd: &Command) -> Response {
        if !u2f_enabled(&self.authenticator) {
            // alwaysUv is on: U2F cannot verify the user (CTAP 2.1 §6.11.2).
            return StatusWord::COMMAND_NOT_ALLOWED.into();
        }
        let auth = &mut self.authenticator;
        auth.end_session();
        auth.arrived_ms = auth.platform.clock.now_ms();
        auth.request_name = match cmd.ins {
            U2F_INS_REGISTER => "U2F_REGISTER",
            U2F_INS_AUTHENTICATE => "U2F_AUTHENTICATE",
            _ => "U2F_VERSION",
        };
        let response = u2f::process(cmd, auth);
        // 6985 while the user has not touched; the host retries this APDU (module docs).
        self.u2f_waiting = (auth.presence() == Presence::Waiting).then(|| cmd.clone());
        response
    }
}
