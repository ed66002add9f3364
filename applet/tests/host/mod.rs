//! The one in-process test host of the applet's integration tests: the platform side of CTAP
//! over the NFC binding, driving a virtual card only through APDU bytes.
//!
//! - this module: status codes, the [`Tester`] and its CTAP commands; APDU framing (extended
//!   APDUs, or short APDUs chained with CLA 90) and GET RESPONSE come from `fido-host`;
//! - [`pin`]: the platform side of PIN/UV auth protocols 1 and 2 (§6.5.6, §6.5.7): `fido-host`'s,
//!   independent of the card's `pin_protocol` module, made reproducible;
//! - [`cbor`]: request builders and response parsers;
//! - [`storage`]: write recording, fresh images and state summaries for the reliability suites.
//!
//! Every test file is its own crate and uses a different part of this module, so each declares
//! it with `#[allow(dead_code)]`.

pub mod cbor;
pub mod pin;
pub mod storage;

pub use cbor::*;
pub use pin::*;

use apdu::Card;
use card_storage::MemoryStorage;
use card_storage::records::LogMedium;
use ctap_types::cbor::{self as card_cbor, IntMap, Value};
use fido_applet::crypto::Backend;
use fido_applet::platform::{
    Clock, ManualClock, Platform, PresenceGate, PresencePolicy, SeededRng,
};
use fido_applet::profile::Profile;
use fido_applet::state::State;
use fido_applet::{AppletError, CardBuilder};
use fido_host::ctap_types::{self, CtapError, permission};
use fido_host::iso::{self, Follow};
use fido_host::nfc::{self, Length};

/// SELECT the FIDO applet by AID (CTAP 2.1 §11.3.1).
pub const SELECT: [u8; 14] = ctap_types::nfc::SELECT_FIDO;

// CTAP status codes (CTAP 2.1 §8.2), as the status byte of an answer.
pub const OK: u8 = ctap_types::CTAP2_OK;
pub const INVALID_COMMAND: u8 = CtapError::InvalidCommand.code();
pub const INVALID_PARAMETER: u8 = CtapError::InvalidParameter.code();
pub const INVALID_LENGTH: u8 = CtapError::InvalidLength.code();
pub const INVALID_SEQ: u8 = CtapError::InvalidSeq.code();
pub const CBOR_UNEXPECTED_TYPE: u8 = CtapError::CborUnexpectedType.code();
pub const INVALID_CBOR: u8 = CtapError::InvalidCbor.code();
pub const MISSING_PARAMETER: u8 = CtapError::MissingParameter.code();
pub const LIMIT_EXCEEDED: u8 = CtapError::LimitExceeded.code();
pub const LARGE_BLOB_STORAGE_FULL: u8 = CtapError::LargeBlobStorageFull.code();
pub const CREDENTIAL_EXCLUDED: u8 = CtapError::CredentialExcluded.code();
pub const UNSUPPORTED_ALGORITHM: u8 = CtapError::UnsupportedAlgorithm.code();
pub const OPERATION_DENIED: u8 = CtapError::OperationDenied.code();
pub const KEY_STORE_FULL: u8 = CtapError::KeyStoreFull.code();
pub const UNSUPPORTED_OPTION: u8 = CtapError::UnsupportedOption.code();
pub const INVALID_OPTION: u8 = CtapError::InvalidOption.code();
pub const KEEPALIVE_CANCEL: u8 = CtapError::KeepaliveCancel.code();
pub const NO_CREDENTIALS: u8 = CtapError::NoCredentials.code();
pub const NOT_ALLOWED: u8 = CtapError::NotAllowed.code();
pub const PIN_INVALID: u8 = CtapError::PinInvalid.code();
pub const PIN_BLOCKED: u8 = CtapError::PinBlocked.code();
pub const PIN_AUTH_INVALID: u8 = CtapError::PinAuthInvalid.code();
pub const PIN_AUTH_BLOCKED: u8 = CtapError::PinAuthBlocked.code();
pub const PIN_NOT_SET: u8 = CtapError::PinNotSet.code();
pub const PUAT_REQUIRED: u8 = CtapError::PuatRequired.code();
pub const PIN_POLICY_VIOLATION: u8 = CtapError::PinPolicyViolation.code();
pub const REQUEST_TOO_LARGE: u8 = CtapError::RequestTooLarge.code();
pub const INTEGRITY_FAILURE: u8 = CtapError::IntegrityFailure.code();
pub const INVALID_SUBCOMMAND: u8 = CtapError::InvalidSubcommand.code();
pub const UNAUTHORIZED_PERMISSION: u8 = CtapError::UnauthorizedPermission.code();
pub const OTHER: u8 = CtapError::Other.code();

// Authenticator-data flags (WebAuthn §6.1).
pub const FLAG_UP: u8 = fido_host::attestation::FLAG_UP;
pub const FLAG_UV: u8 = fido_host::attestation::FLAG_UV;
pub const FLAG_ED: u8 = fido_host::attestation::FLAG_ED;

// pinUvAuthToken permissions (§6.5.5.7).
pub const MC: u64 = permission::MAKE_CREDENTIAL as u64;
pub const GA: u64 = permission::GET_ASSERTION as u64;
pub const CM: u64 = permission::CREDENTIAL_MANAGEMENT as u64;
pub const LBW: u64 = permission::LARGE_BLOB_WRITE as u64;
pub const ACFG: u64 = permission::AUTHENTICATOR_CONFIG as u64;

pub const PIN: &str = "1234";

pub fn hex(s: &str) -> Vec<u8> {
    apdu::hex_decode(s).expect("test hex")
}

/// A clock that advances `step_ms` every time it is read: a card whose every operation takes
/// time, to reach the NFCCTAP_GETRESPONSE path deterministically. With `step_ms` 0 it is the
/// plain [`ManualClock`].
#[derive(Clone)]
pub struct TickingClock {
    pub inner: ManualClock,
    pub step_ms: u64,
}

impl Clock for TickingClock {
    fn now_ms(&self) -> u64 {
        self.inner.advance(self.step_ms);
        self.inner.now_ms()
    }
}

/// How the host frames CTAP messages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Framing {
    /// python-fido2: short APDUs, 250-byte chaining with CLA 90 (NFCCTAP_MSG P1 80), GET
    /// RESPONSE with CLA 00.
    ShortChained,
    /// One extended-length APDU each way (NFCCTAP_MSG P1 00).
    Extended,
}

/// How a [`Tester`]'s card is built.
#[derive(Clone)]
pub struct Setup {
    pub profile: Profile,
    pub presence: PresencePolicy,
    /// The card's random seed.
    pub seed: u64,
    /// See [`TickingClock`].
    pub step_ms: u64,
    /// `None`: extended APDUs when the profile allows them, else short chaining.
    pub framing: Option<Framing>,
    /// The exact SELECT answer expected, when the test pins it down (any FIDO answer otherwise).
    pub select_answer: Option<&'static [u8]>,
    /// The crypto backend the card computes with.
    pub backend: Backend,
}

impl Setup {
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            presence: PresencePolicy::Auto,
            seed: 42,
            step_ms: 0,
            framing: None,
            select_answer: None,
            backend: Backend::default(),
        }
    }
}

/// A card and the host talking to it.
pub struct Tester {
    pub card: Card,
    pub clock: ManualClock,
    /// The card's presence gate: touch, change the policy.
    pub gate: PresenceGate,
    /// The card's persistent memory, when the card lives in a [`MemoryStorage`].
    memory: Option<MemoryStorage>,
    pub setup: Setup,
    pub profile: Profile,
    pub framing: Framing,
    /// Every APDU sent through [`Tester::transmit`], for fuzz corpus seeds.
    pub trace: Vec<Vec<u8>>,
    host_seed: u8,
}

impl Tester {
    pub fn new() -> Self {
        Self::with_profile(Profile::generic())
    }

    pub fn with_profile(profile: Profile) -> Self {
        Self::start(Setup::new(profile), MemoryStorage::new())
    }

    pub fn with_presence(profile: Profile, presence: PresencePolicy) -> Self {
        Self::start(
            Setup {
                presence,
                ..Setup::new(profile)
            },
            MemoryStorage::new(),
        )
    }

    /// A card whose clock advances `step_ms` at every reading (see [`TickingClock`]).
    pub fn with_ticking_clock(profile: Profile, step_ms: u64) -> Self {
        Self::with_ticking_clock_and_presence(profile, step_ms, PresencePolicy::Auto)
    }

    /// A ticking clock and a presence policy.
    pub fn with_ticking_clock_and_presence(
        profile: Profile,
        step_ms: u64,
        presence: PresencePolicy,
    ) -> Self {
        Self::start(
            Setup {
                presence,
                step_ms,
                ..Setup::new(profile)
            },
            MemoryStorage::new(),
        )
    }

    /// A card on `storage`.
    pub fn start(setup: Setup, storage: MemoryStorage) -> Self {
        Self::on_storage_with(setup, storage, Box::new(|s| Box::new(s)))
    }

    /// A card on `storage`, seen through `wrap` (fault injection).
    pub fn on_storage_with(
        setup: Setup,
        storage: MemoryStorage,
        wrap: Box<dyn FnOnce(MemoryStorage) -> Box<dyn LogMedium>>,
    ) -> Self {
        Self::build(setup, Some(storage.clone()), wrap(storage)).expect("card")
    }

    /// A card of profile `profile` on `storage`, seen through `wrap` (fault injection).
    pub fn on_storage(
        profile: Profile,
        storage: MemoryStorage,
        wrap: Box<dyn FnOnce(MemoryStorage) -> Box<dyn LogMedium>>,
    ) -> Self {
        Self::on_storage_with(Setup::new(profile), storage, wrap)
    }

    /// Builds the generic card on any `storage` (loading its state: the power-up), powers it
    /// and selects the FIDO applet.
    pub fn boot(storage: Box<dyn LogMedium>, seed: u64) -> Result<Tester, AppletError> {
        Self::build(
            Setup {
                seed,
                ..Setup::new(Profile::generic())
            },
            None,
            storage,
        )
    }

    fn build(
        setup: Setup,
        memory: Option<MemoryStorage>,
        storage: Box<dyn LogMedium>,
    ) -> Result<Tester, AppletError> {
        let clock = ManualClock::new(0);
        let gate = PresenceGate::new(setup.presence);
        let platform = Platform {
            rng: Box::new(SeededRng::new(setup.seed)),
            clock: Box::new(TickingClock {
                inner: clock.clone(),
                step_ms: setup.step_ms,
            }),
            presence: gate.clone(),
        };
        let card = CardBuilder::new(setup.profile.clone())
            .storage(storage)
            .platform(platform)
            .crypto_backend(setup.backend)
            .build()?;
        let framing = setup.framing.unwrap_or(if setup.profile.extended_length {
            Framing::Extended
        } else {
            Framing::ShortChained
        });
        let mut t = Tester {
            card,
            clock,
            gate,
            memory,
            profile: setup.profile.clone(),
            setup,
            framing,
            trace: Vec::new(),
            host_seed: 0,
        };
        t.select();
        Ok(t)
    }

    /// The card's [`MemoryStorage`].
    pub fn storage(&self) -> &MemoryStorage {
        self.memory.as_ref().expect("a card in memory")
    }

    /// A new card object on the same persistent memory (the process restarted), seen through
    /// `wrap`; presence Auto, a clock that does not tick.
    pub fn reload_with(
        &self,
        wrap: Box<dyn FnOnce(MemoryStorage) -> Box<dyn LogMedium>>,
    ) -> Tester {
        let setup = Setup {
            presence: PresencePolicy::Auto,
            step_ms: 0,
            ..self.setup.clone()
        };
        Self::on_storage_with(setup, self.storage().clone(), wrap)
    }

    /// A new card object on the same persistent memory (the process restarted).
    pub fn reload(&self) -> Tester {
        self.reload_with(Box::new(|s| Box::new(s)))
    }

    /// As [`Tester::reload`], with another presence policy.
    pub fn reload_with_presence(&self, presence: PresencePolicy) -> Tester {
        let setup = Setup {
            presence,
            step_ms: 0,
            ..self.setup.clone()
        };
        Self::start(setup, self.storage().clone())
    }

    /// The committed persistent state, read from the storage's record log.
    pub fn state(&self) -> State {
        let bytes = self.storage().image().expect("a record log");
        fido_applet::state::decode_log(&bytes, "memory").expect("state decodes")
    }

    /// Rewrites the persistent state and reloads the card.
    pub fn edit_state(&self, f: impl FnOnce(&mut State)) -> Tester {
        let mut state = self.state();
        f(&mut state);
        self.storage()
            .set_image(Some(fido_applet::state::encode_log(&state).unwrap()));
        self.reload()
    }

    /// Sends one APDU and collects a long answer with GET RESPONSE; returns data and SW.
    pub fn transmit(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        // GET RESPONSE with CLA 00 and Le = SW2 on 61xx (python-fido2); 6Cxx goes back to the
        // test as it came.
        let follow = Follow {
            resend_on_6c: false,
            ..Follow::default()
        };
        let outcome = iso::exchange(&mut self.card, apdu, follow).expect("in-process card");
        self.trace
            .extend(outcome.exchanges.iter().map(|e| e.command.clone()));
        assert!(
            outcome.exchanges.iter().all(|e| e.response.len() >= 2),
            "every response has a status word"
        );
        (outcome.data, outcome.sw)
    }

    /// SELECTs the FIDO applet; returns the answer ("U2F_V2" on a card that speaks U2F,
    /// "FIDO_2_0" otherwise, CTAP 2.1 §11.3, also with alwaysUv on, §6.11.2).
    pub fn select(&mut self) -> Vec<u8> {
        let (data, sw) = self.transmit(&SELECT);
        assert_eq!(sw, 0x9000);
        assert!(
            data == b"U2F_V2" || data == b"FIDO_2_0",
            "SELECT answered {data:02X?}"
        );
        if let Some(want) = self.setup.select_answer {
            assert_eq!(data.as_slice(), want);
        }
        data
    }

    pub fn power_cycle(&mut self) {
        self.card.power_off();
        self.card.power_on();
        self.select();
    }

    /// One extended-length NFCCTAP_MSG with P1 `p1`.
    pub fn nfcctap_msg_p1(&mut self, p1: u8, message: &[u8]) -> (Vec<u8>, u16) {
        let framing = nfc::Framing {
            length: Length::Extended,
            msg_p1: p1,
            ..nfc::Framing::default()
        };
        let [apdu] = nfc::frame(&framing, message).try_into().expect("one APDU");
        self.transmit(&apdu)
    }

    /// Sends one NFCCTAP_MSG with the tester's framing; returns response data and SW.
    pub fn nfcctap_msg(&mut self, message: &[u8]) -> (Vec<u8>, u16) {
        match self.framing {
            Framing::Extended => self.nfcctap_msg_p1(0x00, message),
            Framing::ShortChained => {
                let python_fido2 = nfc::Framing::python_fido2();
                let apdus = nfc::frame(&python_fido2, message);
                let (last, chained) = apdus.split_last().expect("one APDU at least");
                for (i, apdu) in chained.iter().enumerate() {
                    let (data, sw) = self.transmit(apdu);
                    assert_eq!((data.len(), sw), (0, 0x9000), "chained part {i}");
                }
                self.transmit(last)
            }
        }
    }

    /// Parses `status || CBOR`: the status and the CBOR body, if any (canonical; none on an
    /// error).
    pub fn parse_answer(data: &[u8]) -> (u8, Option<Value>) {
        let (&status, body) = data.split_first().expect("status byte");
        let body = (!body.is_empty()).then(|| {
            let value = card_cbor::parse(body).expect("response is CBOR");
            assert_eq!(value.to_vec(), body, "response CBOR is canonical");
            value
        });
        if status != OK {
            assert!(body.is_none(), "errors carry no CBOR");
        }
        (status, body)
    }

    /// Parses `status || CBOR` into the CBOR body or the status.
    pub fn ctap_answer(data: &[u8]) -> Result<Value, u8> {
        match Self::parse_answer(data) {
            (OK, Some(v)) => Ok(v),
            (OK, None) => Ok(Value::Null),
            (status, _) => Err(status),
        }
    }

    /// Sends a CTAP message; returns the status byte and the decoded CBOR body (if any).
    pub fn ctap_raw(&mut self, message: &[u8]) -> (u8, Option<Value>) {
        let (data, sw) = self.nfcctap_msg(message);
        assert_eq!(sw, 0x9000, "CTAP answers travel in 9000");
        Self::parse_answer(&data)
    }

    pub fn ctap(&mut self, command: u8, params: Option<&Value>) -> Result<Value, u8> {
        let mut message = vec![command];
        if let Some(p) = params {
            message.extend_from_slice(&p.to_vec());
        }
        match self.ctap_raw(&message) {
            (OK, Some(v)) => Ok(v),
            (OK, None) => Ok(Value::Null),
            (status, _) => Err(status),
        }
    }

    pub fn ctap_map(&mut self, command: u8, entries: Vec<(Value, Value)>) -> Result<Value, u8> {
        self.ctap(command, Some(&Value::Map(entries)))
    }

    pub fn get_info(&mut self) -> Value {
        self.ctap(0x04, None).expect("getInfo")
    }

    /// getInfo option `name`, if declared.
    pub fn option(&mut self, name: &str) -> Option<bool> {
        let info = self.get_info();
        option(&info, name)
    }

    /// getInfo member `key`.
    pub fn info(&mut self, key: u64) -> Option<Value> {
        let info = self.get_info();
        IntMap::new(&info).unwrap().get(key).cloned()
    }

    pub fn client_pin(&mut self, entries: Vec<(Value, Value)>) -> Result<Value, u8> {
        self.ctap_map(0x06, entries)
    }

    /// getPINRetries: (pinRetries, powerCycleState).
    pub fn retries(&mut self) -> (u64, bool) {
        let v = self
            .client_pin(vec![(int(1), int(2)), (int(2), int(1))])
            .expect("getPINRetries");
        let m = IntMap::new(&v).unwrap();
        (
            m.required(3).unwrap().as_unsigned().unwrap(),
            m.required(4).unwrap().as_bool().unwrap(),
        )
    }

    /// getKeyAgreement: the card's COSE_Key.
    pub fn key_agreement(&mut self, protocol: u8) -> Value {
        let v = self
            .client_pin(vec![(int(1), int(protocol.into())), (int(2), int(2))])
            .expect("getKeyAgreement");
        IntMap::new(&v).unwrap().required(1).unwrap().clone()
    }

    /// A fresh shared secret with the card (a new platform key each time).
    pub fn secret(&mut self, protocol: u8) -> HostSecret {
        let card_key = self.key_agreement(protocol);
        self.host_seed = self.host_seed.wrapping_add(1);
        HostSecret::agree(protocol, &card_key, self.host_seed)
    }

    pub fn set_pin(&mut self, protocol: u8, pin: impl AsRef<[u8]>) -> Result<(), u8> {
        let mut s = self.secret(protocol);
        let new_pin_enc = s.padded_pin(pin.as_ref());
        let param = s.authenticate(&new_pin_enc);
        self.client_pin(s.pin_request(param, new_pin_enc, None))
            .map(|_| ())
    }

    pub fn change_pin(
        &mut self,
        protocol: u8,
        current: &str,
        new: impl AsRef<[u8]>,
    ) -> Result<(), u8> {
        let mut s = self.secret(protocol);
        let new_pin_enc = s.padded_pin(new.as_ref());
        let pin_hash_enc = s.pin_hash_enc(current);
        let param = s.authenticate(&[new_pin_enc.as_slice(), &pin_hash_enc].concat());
        self.client_pin(s.pin_request(param, new_pin_enc, Some(pin_hash_enc)))
            .map(|_| ())
    }

    /// getPinUvAuthTokenUsingPinWithPermissions.
    pub fn token(
        &mut self,
        protocol: u8,
        pin: &str,
        permissions: u64,
        rp_id: Option<&str>,
    ) -> Result<Token, u8> {
        self.get_token(protocol, pin, Some(permissions), rp_id)
    }

    /// getPinToken (the CTAP 2.0 subcommand, no permissions).
    pub fn pin_token(&mut self, protocol: u8, pin: &str) -> Result<Token, u8> {
        self.get_token(protocol, pin, None, None)
    }

    /// getPinUvAuthTokenUsingPinWithPermissions (`permissions: Some`) or getPinToken; an
    /// rpId goes with either, so tests can send it where it does not belong.
    pub fn get_token(
        &mut self,
        protocol: u8,
        pin: &str,
        permissions: Option<u64>,
        rp_id: Option<&str>,
    ) -> Result<Token, u8> {
        let mut s = self.secret(protocol);
        let pin_hash_enc = s.pin_hash_enc(pin);
        let sub = if permissions.is_some() { 9 } else { 5 };
        let mut req = s.token_request(sub, pin_hash_enc);
        if let Some(p) = permissions {
            req.push((int(9), Value::Unsigned(p)));
        }
        if let Some(rp) = rp_id {
            req.push((int(10), text(rp)));
        }
        let v = self.client_pin(req)?;
        let enc = IntMap::new(&v)
            .unwrap()
            .required(2)
            .unwrap()
            .as_bytes()
            .unwrap()
            .to_vec();
        assert_eq!(enc.len(), if protocol == 1 { 32 } else { 48 });
        let bytes = s.decrypt(&enc);
        assert_eq!(bytes.len(), 32);
        Ok(Token { protocol, bytes })
    }

    /// One authenticatorLargeBlobs set request (§6.10.2): `fragment` at `offset`, with the
    /// total `length` on the first one; `token` authorizes it with the §6.10.2 message.
    pub fn large_blob_set(
        &mut self,
        token: Option<&Token>,
        offset: u64,
        fragment: &[u8],
        length: Option<u64>,
    ) -> Result<(), u8> {
        let mut req = vec![
            (int(2), Value::bytes(fragment)),
            (int(3), Value::Unsigned(offset)),
        ];
        if let Some(l) = length {
            req.push((int(4), Value::Unsigned(l)));
        }
        if let Some(token) = token {
            let message = large_blob_message(offset as u32, fragment);
            req.push((int(5), Value::bytes(token.param(&message))));
            req.push((int(6), int(token.protocol.into())));
        }
        self.ctap_map(0x0C, req).map(|_| ())
    }

    pub fn make_credential(&mut self, req: impl IntoRequest) -> Result<Registration, u8> {
        self.ctap(0x01, Some(&req.into_request()))
            .map(|v| Registration::parse(&v))
    }

    /// A credential from makeCredential of [`mc`]`(rp, user, rk)`, which must succeed.
    pub fn credential(&mut self, rp: &str, user: &[u8], rk: bool) -> Registration {
        self.make_credential(mc(rp, user, rk))
            .expect("makeCredential")
    }

    pub fn get_assertion(&mut self, req: impl IntoRequest) -> Result<Assertion, u8> {
        self.ctap(0x02, Some(&req.into_request()))
            .map(|v| Assertion::parse(&v))
    }

    pub fn get_next_assertion(&mut self) -> Result<Assertion, u8> {
        self.ctap(0x08, None).map(|v| Assertion::parse(&v))
    }

    /// The zero-length pinUvAuthParam probe (protocol 2) in makeCredential (§6.1.2 step 1) and
    /// in getAssertion (§6.2.2 step 1): their error codes, in that order.
    pub fn zero_length_probes(&mut self) -> [Option<u8>; 2] {
        let probe = |req: Vec<(Value, Value)>, k: i64| {
            set(set(req, k, Value::bytes(vec![])), k + 1, int(2))
        };
        [
            self.make_credential(probe(mc("example.com", b"u", false), 8))
                .err(),
            self.get_assertion(probe(ga("example.com", &[]), 6)).err(),
        ]
    }

    pub fn reset(&mut self) -> Result<(), u8> {
        self.ctap(0x07, None).map(|_| ())
    }

    /// A discoverable credential for `rp` / `user` (the card has no PIN, or `token` is given).
    pub fn register(&mut self, rp: &str, user: &[u8], token: Option<&Token>) -> Vec<u8> {
        let mut req = mc(rp, user, true);
        if let Some(t) = token {
            req = with_token(req, t, 8);
        }
        self.make_credential(req)
            .expect("makeCredential")
            .credential_id
    }
}
