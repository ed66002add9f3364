//! One way to assemble a card: the bridge, the tools, the tests, the benches and the fuzz targets
//! all build theirs here, so a card under test is the card that is served.
//!
//! A card is a profile (the model: ATR, getInfo values, APDU limits), a storage (its persistent
//! memory), a platform (random numbers, a clock, the user-presence policy) and the ISO 7816-4
//! runtime with the FIDO applet installed under [`FIDO_AID`] (CTAP 2.1 §11.3, "Applet
//! selection"), its APDU limits taken from the profile.
//!
//! ```
//! use card_storage::MemoryStorage;
//! use fido_applet::CardBuilder;
//! use fido_applet::platform::ManualClock;
//! use fido_applet::profile::Profile;
//!
//! let memory = MemoryStorage::new();
//! let mut card = CardBuilder::new(Profile::generic())
//!     .storage(memory.clone())
//!     .seed(7)
//!     .clock(ManualClock::new(0))
//!     .build()
//!     .expect("a fresh card");
//! let answer = card.transmit(&ctap_types::nfc::SELECT_FIDO);
//! assert_eq!(&answer[answer.len() - 2..], &[0x90, 0x00]);
//! assert!(memory.image().is_some(), "a fresh card commits its state");
//! ```

use apdu::Card;
use card_storage::MemoryStorage;
use card_storage::records::LogMedium;

use crate::crypto::Backend;
use crate::platform::{Clock, Platform, PresenceGate, PresencePolicy, Rng, SeededRng};
use crate::profile::Profile;
use crate::{AppletError, FidoApplet};
use ctap_types::nfc::FIDO_AID;

/// Assembles a card. Defaults: a fresh [`MemoryStorage`], the host's platform
/// ([`Platform::system`]: OS CSPRNG, monotonic clock, presence by tap) and a powered card.
pub struct CardBuilder {
    profile: Profile,
    storage: Option<Box<dyn LogMedium>>,
    platform: Platform,
    powered: bool,
    backend: Backend,
}

impl CardBuilder {
    /// A card of model `profile`.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            storage: None,
            platform: Platform::system(),
            powered: true,
            backend: Backend::default(),
        }
    }

    /// The card model, e.g. to name it in messages before the card is built.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Names the storage (`memory` by default), for messages.
    pub fn storage_name(&self) -> String {
        match &self.storage {
            Some(storage) => storage.describe(),
            None => "memory".to_string(),
        }
    }

    /// Where the card keeps its state (a record log: [`card_storage::MemoryStorage`],
    /// [`card_storage::records::FileLog`], either under fault injection). Loaded if it holds
    /// one (a state in the whole-image format of earlier builds is converted to records first),
    /// else a fresh card is committed there; a corrupt, truncated or newer state is an error
    /// naming the storage.
    pub fn storage(mut self, storage: impl LogMedium + 'static) -> Self {
        self.storage = Some(Box::new(storage));
        self
    }

    /// Every random choice (keys, credential-id nonces, IVs, key agreement, certificate serials)
    /// from an HMAC_DRBG seeded with `seed`: reproducible, hence **not secure**. The clock is
    /// left as it is.
    pub fn seed(self, seed: u64) -> Self {
        self.rng(SeededRng::new(seed))
    }

    /// The card's random number generator.
    pub fn rng(mut self, rng: impl Rng + 'static) -> Self {
        self.platform.rng = Box::new(rng);
        self
    }

    /// The card's monotonic clock (a [`crate::platform::ManualClock`] lets a test move time).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.platform.clock = Box::new(clock);
        self
    }

    /// How user-presence tests are answered (a new gate with this policy).
    pub fn presence(mut self, presence: PresencePolicy) -> Self {
        self.platform.presence = PresenceGate::new(presence);
        self
    }

    /// The presence gate to use: the caller keeps a clone to touch and to change the policy
    /// while the card runs ([`crate::presence`]).
    pub fn presence_gate(mut self, gate: PresenceGate) -> Self {
        self.platform.presence = gate;
        self
    }

    /// Random numbers, clock and presence policy at once.
    pub fn platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }

    /// The crypto backend the card computes with (default: [`Backend::default`], aws-lc when the
    /// `asm-crypto` feature built it in, else the pure-Rust one). Credentials and state files
    /// are the same whichever computes them.
    pub fn crypto_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Leaves the card unpowered: the first power-up is the caller's, as vpcd's is for the
    /// bridge. (A card powered twice draws its power-up randomness twice, and every later
    /// random answer of a seeded card would differ from a recording.)
    pub fn unpowered(mut self) -> Self {
        self.powered = false;
        self
    }

    /// Only the applet, loaded from (or initialized in) the storage, not yet installed: for
    /// callers that inspect it first (the bridge checks that the state belongs to the model)
    /// or need only its attestation material. [`FidoApplet::into_card`] installs it.
    pub fn applet(self) -> Result<FidoApplet, AppletError> {
        let storage = self
            .storage
            .unwrap_or_else(|| Box::new(MemoryStorage::new()));
        FidoApplet::with_backend(self.profile, storage, self.platform, self.backend)
    }

    /// The card with the FIDO applet installed, powered unless [`CardBuilder::unpowered`].
    pub fn build(self) -> Result<Card, AppletError> {
        let powered = self.powered;
        let mut card = self.applet()?.into_card();
        if powered {
            card.power_on();
        }
        Ok(card)
    }
}

impl FidoApplet {
    /// An unpowered card with this applet installed under [`FIDO_AID`] and the APDU limits of
    /// its profile.
    pub fn into_card(self) -> Card {
        let mut card = Card::new(self.authenticator.profile().card_config());
        card.install(&FIDO_AID, Box::new(self));
        card
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::ManualClock;

    /// SELECT, then authenticatorGetInfo with its answer fetched through GET RESPONSE
    /// (`fido-host`'s framing): the data and the final status word.
    fn get_info(card: &mut Card) -> Vec<u8> {
        use fido_host::iso::{Follow, exchange};
        use fido_host::nfc::{Framing, frame};
        card.transmit(&ctap_types::nfc::SELECT_FIDO);
        let [apdu] = frame(&Framing::default(), &[ctap_types::command::GET_INFO])
            .try_into()
            .expect("one APDU");
        let outcome = exchange(card, &apdu, Follow::default()).expect("in-process card");
        [outcome.data, outcome.sw.to_be_bytes().to_vec()].concat()
    }

    #[test]
    fn a_seeded_card_is_reproducible_and_its_state_persists() {
        let memory = MemoryStorage::new();
        let build = |storage: MemoryStorage| {
            CardBuilder::new(Profile::generic())
                .storage(storage)
                .seed(5)
                .clock(ManualClock::new(0))
                .build()
                .expect("card")
        };
        let first = build(memory.clone());
        let image = memory.image().expect("committed");
        drop(first);
        let other = MemoryStorage::new();
        drop(build(other.clone()));
        assert_eq!(other.image(), Some(image.clone()), "same seed, same card");
        // Built again on the same memory: the state is loaded, not replaced.
        let mut again = build(memory.clone());
        assert_eq!(memory.image(), Some(image));
        let info = get_info(&mut again);
        assert_eq!(&info[info.len() - 2..], &[0x90, 0x00]);
        assert_eq!(info[0], 0x00, "CTAP2_OK");
    }

    #[test]
    fn an_unpowered_card_answers_nothing_until_powered() {
        let mut card = CardBuilder::new(Profile::generic())
            .seed(1)
            .unpowered()
            .build()
            .expect("card");
        assert!(!card.is_powered());
        card.power_on();
        assert!(card.is_powered());
        let info = get_info(&mut card);
        assert_eq!(&info[info.len() - 2..], &[0x90, 0x00]);
    }

    #[test]
    fn the_card_takes_the_profiles_apdu_limits() {
        for profile in Profile::all() {
            let expected = profile.card_config();
            let card = CardBuilder::new(profile).seed(1).build().expect("card");
            assert_eq!(card.config(), &expected);
        }
    }

    #[test]
    fn a_corrupt_state_is_an_error_naming_the_storage() {
        let memory = MemoryStorage::new();
        memory.set_image(Some(b"not a state image".to_vec()));
        let err = CardBuilder::new(Profile::generic())
            .storage(memory.clone())
            .build()
            .err()
            .expect("refused");
        assert!(err.to_string().contains("memory"), "{err}");
        assert_eq!(
            memory.image(),
            Some(b"not a state image".to_vec()),
            "never silently wiped"
        );
    }
}
