//! Turning a [`CardPlan`](crate::plan::CardPlan) into a running card: the profile (built in or
//! from a file), the platform (system or seeded), the state file, and the check that the state
//! belongs to the profile's model.

use std::fs;
use std::path::Path;

use card_storage::records::FileLog;
use fido_applet::crypto::Backend;
use fido_applet::platform::{Platform, PresencePolicy};
use fido_applet::profile::{Persona, Profile};
use fido_applet::{CardBuilder, FidoApplet};

use crate::faults::{FaultFile, PowerSwitch};
use crate::metadata::certificate_names_aaguid;
use crate::plan::is_profile_file;

/// The profile `spec` names: a file when [`is_profile_file`], else a built-in id.
pub fn resolve_profile(spec: &str) -> Result<Profile, String> {
    if is_profile_file(spec) {
        return Profile::load(spec).map_err(|e| e.to_string());
    }
    Profile::builtin(spec).ok_or_else(|| {
        let ids: Vec<String> = Profile::all().into_iter().map(|p| p.id).collect();
        format!(
            "unknown profile {spec:?}; built-in profiles: {} (a profile file ends in .toml or \
             contains '/')",
            ids.join(", ")
        )
    })
}

/// The persona of `--quirks FILE` and the `--quirk`s after it (README, "Card-quirk personas").
pub fn persona(file: Option<&Path>, quirks: &[String]) -> Result<Persona, String> {
    let base = match file {
        Some(path) => Persona::load(path).map_err(|e| e.to_string())?,
        None => Persona::default(),
    };
    let mut cli = Persona::default();
    for quirk in quirks {
        cli.add_quirk(quirk)
            .map_err(|e| format!("--quirk {quirk}: {e}"))?;
    }
    Ok(base.then(&cli))
}

/// The faults of a `--faults` file (README, "Fault injection").
pub fn fault_file(path: &Path) -> Result<FaultFile, String> {
    let text = fs::read_to_string(path)
        .map_err(|e| format!("cannot read the faults file {}: {e}", path.display()))?;
    text.parse()
        .map_err(|e| format!("faults file {}: {e}", path.display()))
}

/// The card's view of the host. Seeded: an HMAC_DRBG from `seed` for every random choice (keys,
/// credential-id nonces, IVs, key agreement, certificate serials) with the real monotonic clock,
/// so timeouts still run; unseeded: the OS CSPRNG.
pub fn platform(seed: Option<u64>, presence: &str) -> Result<Platform, String> {
    let presence: PresencePolicy = presence
        .parse()
        .map_err(|e| format!("--presence {presence}: {e}"))?;
    let platform = match seed {
        Some(seed) => Platform::seeded_with_system_clock(seed),
        None => Platform::system(),
    };
    Ok(platform.with_presence(presence))
}

/// The loud warning printed when a card runs seeded.
pub fn seed_warning(seed: u64) -> String {
    format!(
        "\n\
         ********************************************************************************\n\
         *  WARNING: --seed {seed}: this card is NOT SECURE.\n\
         *  Every key, nonce and certificate it makes derives from the seed, so anyone who\n\
         *  knows the seed knows its keys. For tests and trace replay only: never register\n\
         *  it with an account that matters.\n\
         ********************************************************************************"
    )
}

/// Creates the parent directory of a state file (mode 0700) when missing.
pub fn create_state_dir(state: &Path) -> Result<(), String> {
    let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| format!("cannot create the state directory {}: {e}", dir.display()))
}

/// Loads (or creates) the FIDO applet `card` describes and checks that the state was made for
/// this model.
pub fn open_applet(card: CardBuilder) -> Result<FidoApplet, String> {
    let what = card.storage_name();
    let aaguid = card.profile().aaguid;
    let id = card.profile().id.clone();
    let applet = card
        .applet()
        .map_err(|e| format!("cannot open the card state ({what}): {e}"))?;
    let material = applet.authenticator().state().attestation.as_ref();
    if let Some(material) = material {
        if !certificate_names_aaguid(&material.cert_der, aaguid.as_bytes()) {
            return Err(format!(
                "the card state ({what}) was made for another card model: its attestation \
                 certificate does not name profile {id:?}'s AAGUID {}. Use another --state for \
                 this profile (relying parties reject an attestation whose certificate names \
                 another AAGUID)",
                aaguid
            ));
        }
    }
    Ok(applet)
}

/// Opens the card in the state file `state` with `profile`, computing with `backend`: an unpowered [`apdu::Card`] with the
/// FIDO applet installed and the profile's APDU limits, its storage under `power` (the
/// power-cut fault, [`crate::faults::PowerSwitch`]).
pub fn open_card(
    profile: Profile,
    state: &Path,
    platform: Platform,
    backend: Backend,
    power: &PowerSwitch,
) -> Result<apdu::Card, String> {
    create_state_dir(state)?;
    let card = CardBuilder::new(profile)
        .storage(power.wrap(FileLog::new(state)))
        .platform(platform)
        .crypto_backend(backend);
    Ok(open_applet(card)?.into_card())
}

#[cfg(test)]
mod tests {
    use super::*;
    use card_storage::MemoryStorage;

    #[test]
    fn profiles_by_id_or_file() {
        assert_eq!(
            resolve_profile("hid-crescendo-c2300").expect("built in").id,
            "hid-crescendo-c2300"
        );
        let err = resolve_profile("c2300").expect_err("unknown");
        assert!(
            err.contains("c2300") && err.contains("hid-crescendo-c2300"),
            "{err}"
        );

        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("mine.toml");
        let text = Profile::builtin_source("hid-crescendo-c3000")
            .expect("source")
            .replace("id = \"hid-crescendo-c3000\"", "id = \"mine\"");
        fs::write(&file, text).expect("write");
        assert_eq!(
            resolve_profile(file.to_str().expect("utf-8"))
                .expect("file")
                .id,
            "mine"
        );
        let missing = dir.path().join("missing.toml");
        let err = resolve_profile(missing.to_str().expect("utf-8")).expect_err("missing");
        assert!(err.contains("missing.toml"), "{err}");
    }

    #[test]
    fn seeded_platforms_repeat_and_differ_by_seed() {
        let draw = |seed| {
            let mut p = platform(Some(seed), "auto").expect("platform");
            let mut b = [0u8; 32];
            p.rng.fill_bytes(&mut b);
            b
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
        assert!(platform(None, "never").is_err());
        assert!(seed_warning(5).contains("NOT SECURE"));
    }

    #[test]
    fn a_state_is_bound_to_its_model() {
        let storage = MemoryStorage::new();
        let generic = Profile::generic();
        let card = |profile: Profile, seed: Option<u64>| {
            CardBuilder::new(profile)
                .storage(storage.clone())
                .platform(platform(seed, "auto").expect("platform"))
        };
        let applet = open_applet(card(generic, Some(1))).expect("fresh card");
        let root = applet.attestation_root_pem();
        drop(applet);
        // Same model again: fine, same root.
        let again = open_applet(card(Profile::generic(), None)).expect("reopen");
        assert_eq!(again.attestation_root_pem(), root);
        drop(again);
        // Another model on the same state: refused, naming the profile.
        let err = open_applet(card(
            Profile::builtin("thales-idprime-3940").expect("built in"),
            None,
        ))
        .err()
        .expect("refused");
        assert!(
            err.contains("another card model") && err.contains("thales-idprime-3940"),
            "{err}"
        );
    }
}
