//! The CTAP2 authenticator core (CTAP 2.1 §6 "Authenticator API"), transport-free.
//!
//! [`Authenticator::process`] takes one CTAP message — command byte || CBOR parameters — and
//! returns status byte || CBOR response, exactly the payload the NFC binding (§11.3) carries in
//! NFCCTAP_MSG. One module per command, named after the specification's section; this module
//! only dispatches and holds what they share: the profile, the persistent state, the platform
//! (randomness, time, presence) and the transient session state.

pub mod auth_data;
pub mod client_pin;
pub mod config;
pub mod cred_mgmt;
pub mod error;
pub mod get_assertion;
pub mod get_info;
pub mod large_blobs;
pub mod make_credential;
pub mod pin_uv_auth;
pub mod reset;
pub mod selection;
pub mod types;

use apdu::transient::TransientEvent;
use apdu::{ClearOn, PowerEvent, Transient};
use card_storage::records::LogMedium;

use crate::AppletError;
use crate::attestation::{self, AttestationMaterial};
use std::sync::Arc;

use crate::crypto::{
    self, Backend, CredentialKey, CryptoBackend, Signer, SignerCache, WrappingKey,
};
use crate::platform::Platform;
use crate::presence::{Answer, Outcome};
use crate::profile::Profile;
use crate::state::{State, StateStore};
use ctap_types::cbor::Value;
use ctap_types::{CTAP2_OK, CtapError, CtapResult};

use ctap_types::command;

/// Session state that ends when the applet is deselected or the card reset (nfc-binding:
/// "any state tied to a session ends when another applet is selected or the card is reset").
#[derive(Default)]
pub(crate) struct Session {
    /// The credentials a discoverable getAssertion left for getNextAssertion (§6.3).
    pub next_assertions: Option<get_assertion::Pending>,
    /// A credential-management enumeration in progress (§6.8.3, §6.8.4).
    pub cred_mgmt: Option<cred_mgmt::Enumeration>,
    /// A large-blob write collecting its fragments (§6.10.2).
    pub large_blob_write: Option<large_blobs::PendingWrite>,
}

/// A credential found for a relying party: its id, private key and, when resident, the stored
/// user entity.
pub(crate) struct FoundCredential {
    pub id: Vec<u8>,
    /// The private key, of the credential's algorithm.
    pub key: CredentialKey,
    /// The credential flags ([`crypto::WrappedCredential::flags`]): discoverable, credProtect
    /// level, hmac-secret.
    pub flags: u8,
    pub user: Option<StoredUser>,
    /// A resident credential's credBlob (CTAP 2.1 §12.2); `None` for non-resident ones.
    pub cred_blob: Option<Vec<u8>>,
    /// A resident credential's largeBlobKey (CTAP 2.1 §12.3); `None` for non-resident ones.
    pub large_blob_key: Option<[u8; 32]>,
}

impl FoundCredential {
    /// A stored resident credential with its key.
    fn resident(stored: &crate::state::ResidentCredential, key: CredentialKey) -> Self {
        Self {
            id: stored.credential_id.clone(),
            key,
            flags: stored.flags,
            user: Some(StoredUser {
                id: stored.user_id.clone(),
                name: stored.user_name.clone(),
                display_name: stored.user_display_name.clone(),
            }),
            cred_blob: stored.cred_blob.clone(),
            large_blob_key: stored.large_blob_key,
        }
    }
}

/// The user entity stored with a resident credential.
pub(crate) struct StoredUser {
    pub id: Vec<u8>,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

/// The CTAP2 authenticator.
pub struct Authenticator {
    pub(crate) profile: Profile,
    pub(crate) store: error::CardStore,
    pub(crate) platform: Platform,
    pub(crate) session: Transient<Session>,
    /// `Clock::now_ms` at the last power-up or warm reset; authenticatorReset is allowed only
    /// within 10 s of it (§6.6). `None` until the card was powered.
    pub(crate) powered_at_ms: Option<u64>,
    /// authenticatorClientPIN's transient state: key-agreement key, pinUvAuthToken, wrong PINs
    /// since power-up (CTAP 2.1 §6.5).
    pub(crate) client_pin: client_pin::ClientPin,
    /// What the command being processed did about user presence; reported in its [`Reply`].
    presence: Presence,
    /// The crypto backend that computes every signature and key agreement (chosen when the
    /// card is built, [`crate::CardBuilder::crypto_backend`]).
    pub(crate) crypto: &'static dyn CryptoBackend,
    /// Which backend `crypto` is.
    backend: Backend,
    /// Signers prepared for the keys used last (the attestation key, recent credentials).
    signers: SignerCache,
    /// What the command being processed is called in presence requests ("makeCredential",
    /// "U2F_REGISTER"), for the gate's record.
    pub(crate) request_name: &'static str,
    /// `Clock::now_ms` when the command being processed arrived: a command suspended for
    /// presence and run again keeps its first arrival time, so time rules checked on arrival
    /// (authenticatorReset's 10 seconds, §6.6) judge the request, not the user's delay.
    pub(crate) arrived_ms: u64,
}

/// What the authenticator did with one CTAP message, for the transport binding in front of it
/// (the NFC binding, [`crate::nfc`]), which owns everything transport-specific: the status
/// word, and when an answer is held behind `91 00`, the status byte it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The CTAP response: status byte || CBOR (CTAP 2.1 §8).
    pub data: Vec<u8>,
    /// Whether the command needed the user's presence.
    pub presence: Presence,
}

/// A command's user-presence outcome (CTAP 2.1 §6.1.2 step 14, §6.2.2 step 9, §6.6, §6.9,
/// U2F's check-user-presence). On a contactless card the tap that powered it is the gesture, so
/// a test is normally decided at once by the platform's [`crate::presence::PresenceGate`]; a
/// binding tells "waiting for the user" from "processing" by it (NFCCTAP_GETRESPONSE's status
/// byte, §11.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Presence {
    /// The command did not test user presence.
    #[default]
    NotTested,
    /// The command tested user presence (granted or refused).
    Tested,
    /// The command met an undecided presence request and stopped there, before writing
    /// anything: its answer (`data`) is meaningless. The binding runs the same message again
    /// once the gate is decided ([`crate::nfc`]).
    Waiting,
}

impl Authenticator {
    /// Loads (or, on a fresh card, creates) the persistent state. A fresh card gets a new
    /// wrapping key and attestation material generated from the profile's AAGUID and subject.
    pub fn new(
        profile: Profile,
        storage: Box<dyn LogMedium>,
        mut platform: Platform,
        backend: Backend,
    ) -> Result<Self, AppletError> {
        let crypto = backend.ops();
        let mut store = StateStore::open(storage, || {
            let mut state = State::fresh(WrappingKey::generate(&mut *platform.rng));
            // The model's factory setting of alwaysUv (authenticatorConfig toggles it).
            state.pin.always_uv = profile.options.always_uv;
            state
        })?;
        if store.get().attestation.is_none() {
            let material = attestation::generate(
                &mut *platform.rng,
                profile.aaguid.as_bytes(),
                &profile.attestation,
                ATTESTATION_NOT_BEFORE_UNIX,
            )?;
            store.transaction(|state: &mut State| {
                state.attestation = Some(material);
                Ok::<(), AppletError>(())
            })?;
        }
        let client_pin = client_pin::ClientPin::new(crypto, &mut *platform.rng);
        Ok(Self {
            profile,
            store: store.into(),
            platform,
            client_pin,
            session: Transient::new(ClearOn::Deselect),
            powered_at_ms: None,
            presence: Presence::NotTested,
            crypto,
            backend,
            signers: SignerCache::new(),
            request_name: "",
            arrived_ms: 0,
        })
    }

    /// The crypto backend this card computes with.
    pub fn crypto_backend(&self) -> Backend {
        self.backend
    }

    /// The signer of credential `id` with private key `key`, prepared once and kept for the
    /// next use (see [`SignerCache`]).
    pub(crate) fn signer(&self, id: &[u8], key: &CredentialKey) -> Arc<dyn Signer> {
        self.signers.signer(self.crypto, id, key)
    }

    /// The batch attestation key's signature of `message` (ES256; WebAuthn §8.2 and U2F sign
    /// with it whatever the credential's algorithm). `None` without attestation material, and
    /// when the stored key is not a valid P-256 scalar (a corrupted state image, logged): the
    /// callers answer both with their internal error.
    pub(crate) fn attestation_sign(&self, message: &[u8]) -> Option<Vec<u8>> {
        let key = self
            .attestation()?
            .private_key()
            .inspect_err(|err| tracing::error!(%err, "the stored attestation key is unusable"))
            .ok()?;
        let signer = self.signer(ATTESTATION_SIGNER, &CredentialKey::Es256(key));
        Some(signer.sign(&[message]))
    }

    /// Forgets every prepared signer (authenticatorReset replaces every credential).
    pub(crate) fn forget_signers(&self) {
        self.signers.clear();
    }

    /// The card profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The committed persistent state (for inspection).
    pub fn state(&self) -> &State {
        self.store.get()
    }

    /// The attestation root certificate (PEM), for relying parties' trust stores.
    pub fn attestation_root_pem(&self) -> String {
        self.attestation()
            .map(AttestationMaterial::root_pem)
            .unwrap_or_default()
    }

    pub(crate) fn attestation(&self) -> Option<&AttestationMaterial> {
        self.store.get().attestation.as_ref()
    }

    /// What the last command did about user presence.
    pub fn presence(&self) -> Presence {
        self.presence
    }

    /// Processes one CTAP message (command byte || CBOR) into status byte || CBOR, with what the
    /// command did about user presence.
    pub fn process(&mut self, message: &[u8]) -> Reply {
        let now = self.platform.clock.now_ms();
        self.process_arrived_at(message, now)
    }

    /// As [`Authenticator::process`], for a message that arrived at `arrived_ms` (a suspended
    /// command run again after the presence gate was decided).
    pub fn process_arrived_at(&mut self, message: &[u8], arrived_ms: u64) -> Reply {
        self.presence = Presence::NotTested;
        self.arrived_ms = arrived_ms;
        self.request_name = message
            .first()
            .and_then(|&b| ctap_types::Command::try_from(b).ok())
            .map_or("unknown", ctap_types::Command::short_name);
        let data = self.respond(message);
        Reply {
            data,
            presence: self.presence,
        }
    }

    fn respond(&mut self, message: &[u8]) -> Vec<u8> {
        match self.dispatch(message) {
            Ok(Some(body)) => {
                let mut out = vec![CTAP2_OK];
                out.extend_from_slice(&body.to_vec());
                out
            }
            Ok(None) => vec![CTAP2_OK],
            Err(err) => {
                tracing::debug!(command = ?message.first(), %err, "CTAP command failed");
                vec![err.code()]
            }
        }
    }

    fn dispatch(&mut self, message: &[u8]) -> CtapResult<Option<Value>> {
        let (&command, params) = message.split_first().ok_or(CtapError::InvalidLength)?;
        // getNextAssertion continues only the getAssertion right before it (§6.3: "the
        // authenticator MUST discard the state if any other command is received"); the same
        // holds for a credential-management enumeration (§6.8.3, §6.8.4), which the command
        // itself ends unless it is the matching GetNext.
        if command != command::GET_NEXT_ASSERTION {
            self.session.next_assertions = None;
        }
        if !matches!(
            command,
            command::CREDENTIAL_MANAGEMENT | command::CREDENTIAL_MANAGEMENT_PREVIEW
        ) {
            self.session.cred_mgmt = None;
        }
        if message.len() > to_usize(self.profile.max_msg_size) {
            return Err(CtapError::RequestTooLarge);
        }
        // What getInfo does not declare, the card does not do (crate::profile).
        if !self.profile.enables_command(command) {
            return Err(CtapError::InvalidCommand);
        }
        match command {
            command::MAKE_CREDENTIAL => make_credential::process(self, params).map(Some),
            command::GET_ASSERTION => get_assertion::process(self, params).map(Some),
            command::GET_INFO => get_info::process(self).map(Some),
            command::CLIENT_PIN => client_pin::process(self, params),
            command::RESET => reset::process(self).map(|()| None),
            command::GET_NEXT_ASSERTION => get_assertion::process_next(self).map(Some),
            command::CREDENTIAL_MANAGEMENT => cred_mgmt::process(self, params, false),
            command::CREDENTIAL_MANAGEMENT_PREVIEW => cred_mgmt::process(self, params, true),
            command::SELECTION => selection::process(self).map(|()| None),
            command::LARGE_BLOBS => large_blobs::process(self, params),
            command::CONFIG => config::process(self, params).map(|()| None),
            _ => Err(CtapError::InvalidCommand),
        }
    }

    /// Another applet was selected, or this one re-selected: session state ends.
    pub fn deselect(&mut self) {
        self.session.on_event(TransientEvent::Deselect);
    }

    /// Power-up and warm reset start the 10-second authenticatorReset window; every power event
    /// clears session state.
    pub fn power_event(&mut self, event: PowerEvent) {
        self.session.on_event(TransientEvent::Reset);
        // The key-agreement key and the pinUvAuthToken are regenerated at power-up, which also
        // lifts PIN_AUTH_BLOCKED (CTAP 2.1 §6.5.4 initialize(), §6.5.5.7).
        if matches!(event, PowerEvent::PowerOn | PowerEvent::Reset) {
            self.client_pin
                .power_up(self.crypto, &mut *self.platform.rng);
        }
        self.powered_at_ms = match event {
            PowerEvent::PowerOn | PowerEvent::Reset => Some(self.platform.clock.now_ms()),
            PowerEvent::PowerOff => None,
        };
    }

    /// Ends the CTAP session without deselecting (NFCCTAP_CONTROL END).
    pub fn end_session(&mut self) {
        self.session.on_event(TransientEvent::Deselect);
    }

    /// A user-presence test (§6.1.2 step 14, §6.2.2 step 9, §6.6, §6.9). On a contactless card
    /// the tap that powered it is the gesture, so presence is immediate unless the platform's
    /// gate says otherwise: refused (CTAP2_ERR_OPERATION_DENIED), timed out
    /// (CTAP2_ERR_USER_ACTION_TIMEOUT), or not decided yet. Then the command stops with
    /// CTAP2_ERR_USER_ACTION_PENDING (§8.2: "authentication is waiting for user interaction")
    /// and [`Presence::Waiting`]: every caller tests presence before its first write and
    /// propagates the error, so the suspended command has changed nothing.
    pub(crate) fn check_user_presence(&mut self) -> CtapResult<()> {
        let now = self.platform.clock.now_ms();
        match self.platform.presence.request(now, self.request_name) {
            Answer::Decided(outcome) => {
                self.presence = Presence::Tested;
                match outcome {
                    Outcome::Granted => Ok(()),
                    Outcome::TimedOut => Err(CtapError::UserActionTimeout),
                    Outcome::Denied | Outcome::Cancelled | Outcome::Abandoned => {
                        Err(CtapError::OperationDenied)
                    }
                }
            }
            Answer::Waiting => {
                self.presence = Presence::Waiting;
                Err(CtapError::UserActionPending)
            }
        }
    }

    /// A presence test that must not wait (U2F "don't enforce user presence").
    pub(crate) fn user_present_without_waiting(&mut self) -> bool {
        self.presence = Presence::Tested;
        self.platform
            .presence
            .request_without_waiting(self.request_name)
    }

    /// The requested extensions that are both implemented and enabled by the profile (getInfo
    /// lists exactly these; the others are ignored like unknown extensions).
    pub(crate) fn enabled_extensions(&self, requested: &[(String, Value)]) -> Vec<(String, Value)> {
        requested
            .iter()
            .filter(|(id, _)| {
                ctap_types::ExtensionId::parse(id)
                    .is_some_and(|e| self.profile.enables_extension(e))
            })
            .cloned()
            .collect()
    }

    /// An allowList / excludeList longer than getInfo `maxCredentialCountInList` is
    /// CTAP2_ERR_LIMIT_EXCEEDED (0x15, "limit for number of items exceeded"): the
    /// platform splits longer lists into batches of at most that many (CTAP 2.1 §6.4 0x07).
    /// A card whose getInfo does not declare the limit (key 0x07, e.g. a CTAP 2.0 card
    /// answering keys 0x01-0x06) cannot expect platforms to respect it, so it takes lists of
    /// any length (within maxMsgSize).
    pub(crate) fn check_credential_list<T>(&self, list: &[T]) -> CtapResult<()> {
        let declared = self
            .profile
            .declares_info_key(ctap_types::params::get_info::MAX_CREDENTIAL_COUNT_IN_LIST);
        if declared && list.len() > to_usize(self.profile.max_credential_count_in_list) {
            return Err(CtapError::LimitExceeded);
        }
        Ok(())
    }

    /// Looks a credential id up for `rp_id`: it must unwrap under the current wrapping key with
    /// this rpIdHash (so ids of other relying parties, forged ids and ids from before a reset
    /// are not found), and a discoverable id must still be stored (an overwritten resident
    /// credential stops working). An id longer than getInfo `maxCredentialIdLength` cannot be
    /// one of this card's and is skipped unread.
    pub(crate) fn find_credential(
        &self,
        rp_id: &str,
        rp_id_hash: &[u8; 32],
        id: &[u8],
    ) -> Option<FoundCredential> {
        if id.len() > to_usize(self.profile.max_credential_id_length) {
            return None;
        }
        let state = self.store.get();
        let wrapped = crypto::unwrap_credential(&state.wrapping_key, rp_id_hash, id)?;
        if !wrapped.discoverable() {
            return Some(FoundCredential {
                id: id.to_vec(),
                key: wrapped.private_key,
                flags: wrapped.flags,
                user: None,
                cred_blob: None,
                large_blob_key: None,
            });
        }
        let stored = state.find_resident(rp_id, id)?;
        Some(FoundCredential::resident(stored, wrapped.private_key))
    }

    /// A resident credential by id, with its key.
    pub(crate) fn resident_credential(&self, rp_id: &str, id: &[u8]) -> Option<FoundCredential> {
        let stored = self.store.get().find_resident(rp_id, id)?;
        let key = CredentialKey::from_bytes(stored.algorithm, &stored.private_key)?;
        Some(FoundCredential::resident(stored, key))
    }

    /// Advances and persists the global signature counter.
    pub(crate) fn next_sign_count(&mut self) -> CtapResult<u32> {
        self.store
            .transaction(|state: &mut State| Ok(state.next_sign_count()))
    }
}

/// The [`SignerCache`] name of the batch attestation key (credential ids are 62 or 63 bytes, so
/// no id is this name; the cache compares the key too).
const ATTESTATION_SIGNER: &[u8] = b"batch attestation key";

/// notBefore of a generated batch certificate: 2024-01-01T00:00:00Z. The card's clock is
/// monotonic with an arbitrary origin, so it cannot date a certificate; a fixed date in the past
/// keeps verifiers that check validity happy.
pub const ATTESTATION_NOT_BEFORE_UNIX: u64 = 1_704_067_200;

/// Profile sizes are plain integers; a value that does not fit `usize` means "unlimited".
pub(crate) fn to_usize<T: TryInto<usize>>(n: T) -> usize {
    n.try_into().unwrap_or(usize::MAX)
}

/// An unsigned CBOR value from any profile integer.
pub(crate) fn uint<T: TryInto<u64>>(n: T) -> Value {
    Value::Unsigned(n.try_into().unwrap_or(u64::MAX))
}
