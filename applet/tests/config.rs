//! authenticatorConfig (CTAP 2.1 §6.11) and enterprise attestation (§7.1) through the APDU
//! interface: each subcommand, its authorization, its effect on getInfo and on the commands it
//! governs, and the error paths.

#[allow(dead_code)] // each test file is its own crate and uses only part of the shared host
mod host;

use ctap_types::cbor::{IntMap, TextMap, Value};
use fido_applet::profile::Profile;
use host::*;

const CONFIG: u8 = 0x0D;
const ENABLE_EP: u64 = 0x01;
const TOGGLE_ALWAYS_UV: u64 = 0x02;
const SET_MIN_PIN_LENGTH: u64 = 0x03;

/// Sends authenticatorConfig, authorized with `token` when given: the MAC is over
/// `32×0xFF || 0x0D || subCommand || subCommandParams`.
fn config(
    t: &mut Tester,
    token: Option<&Token>,
    sub: u64,
    params: Option<Value>,
) -> Result<(), u8> {
    let prefix = config_prefix(sub);
    let req = subcommand(sub, params, token.map(|token| (token, &prefix[..])));
    t.ctap_map(CONFIG, req).map(|_| ())
}

/// setMinPINLength (§6.11.4) with [`min_pin_params`].
fn set_min_pin_length(
    t: &mut Tester,
    token: Option<&Token>,
    len: Option<i64>,
    rp_ids: Option<&[&str]>,
    force: Option<bool>,
) -> Result<(), u8> {
    let params = min_pin_params(len, rp_ids, force);
    config(t, token, SET_MIN_PIN_LENGTH, Some(params))
}

/// `n` RP IDs: rp0.example, rp1.example, ...
fn rp_ids(n: usize) -> Vec<&'static str> {
    (0..n).map(|i| &*format!("rp{i}.example").leak()).collect()
}

fn min_pin_params(len: Option<i64>, rp_ids: Option<&[&str]>, force: Option<bool>) -> Value {
    let mut m = Vec::new();
    if let Some(len) = len {
        m.push((int(1), int(len)));
    }
    if let Some(ids) = rp_ids {
        m.push((
            int(2),
            Value::Array(ids.iter().map(|id| text(id)).collect()),
        ));
    }
    if let Some(f) = force {
        m.push((int(3), Value::Bool(f)));
    }
    Value::Map(m)
}

/// makeCredential for `rp` with enterpriseAttestation `mode` (member 0x0A, §6.1.2 step 9).
fn mc_ep(t: &mut Tester, rp: &str, mode: i64) -> Result<Registration, u8> {
    t.make_credential(set(mc(rp, b"u", false), 0x0A, int(mode)))
}

fn with_pin() -> (Tester, Token) {
    let mut t = Tester::new();
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, ACFG, None).unwrap();
    (t, token)
}

#[test]
fn get_info_declares_config() {
    let mut t = Tester::new();
    assert_eq!(t.option("authnrCfg"), Some(true));
    assert_eq!(t.option("setMinPINLength"), Some(true));
    assert_eq!(t.option("alwaysUv"), Some(false));
    assert_eq!(t.option("ep"), Some(false));
    assert_eq!(t.info(0x0D), Some(int(4)), "minPINLength");
    assert_eq!(t.info(0x0C), Some(Value::Bool(false)), "forcePINChange");
    assert_eq!(
        t.info(0x10),
        Some(int(t.profile.max_rp_ids_for_set_min_pin_length as i64))
    );
}

#[test]
fn without_a_pin_no_token_is_needed() {
    let mut t = Tester::new();
    config(&mut t, None, TOGGLE_ALWAYS_UV, None).unwrap();
    assert_eq!(t.option("alwaysUv"), Some(true));
    assert_eq!(
        t.option("makeCredUvNotRqd"),
        Some(false),
        "false with alwaysUv"
    );
    // alwaysUv: every makeCredential / getAssertion needs a token now.
    assert_eq!(
        t.make_credential(mc("a.example", b"u", false)).err(),
        Some(PUAT_REQUIRED)
    );
    assert_eq!(t.ctap_map(0x02, ga("a.example", &[])), Err(PUAT_REQUIRED));
    // Every subcommand now needs one (alwaysUv protects the card, §6.11) ...
    assert_eq!(config(&mut t, None, ENABLE_EP, None), Err(PUAT_REQUIRED));
    // ... toggleAlwaysUv included; the way back is a PIN and an acfg token.
    assert_eq!(
        config(&mut t, None, TOGGLE_ALWAYS_UV, None),
        Err(PUAT_REQUIRED)
    );
    assert_eq!(t.option("alwaysUv"), Some(true), "unchanged");
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, ACFG, None).unwrap();
    config(&mut t, Some(&token), TOGGLE_ALWAYS_UV, None).unwrap();
    assert_eq!(t.option("alwaysUv"), Some(false));
    // Without a PIN and without alwaysUv, no token is needed.
    t.ctap(0x07, None).unwrap();
    assert_eq!(t.option("makeCredUvNotRqd"), Some(true));
    set_min_pin_length(&mut t, None, Some(6), None, None).unwrap();
    assert_eq!(t.info(0x0D), Some(int(6)));
    // A PIN shorter than the new minimum is refused.
    assert_eq!(t.set_pin(2, "12345"), Err(PIN_POLICY_VIOLATION));
    t.set_pin(2, "123456").unwrap();
}

#[test]
fn authorization_with_a_pin() {
    let (mut t, token) = with_pin();
    assert_eq!(
        config(&mut t, None, TOGGLE_ALWAYS_UV, None),
        Err(PUAT_REQUIRED)
    );
    // Protocol missing / not offered.
    let param = token.param(b"x");
    let req = raw_auth(2, None, &param);
    assert_eq!(t.ctap_map(CONFIG, req), Err(MISSING_PARAMETER));
    let req = raw_auth(2, Some(7), &param);
    assert_eq!(t.ctap_map(CONFIG, req), Err(INVALID_PARAMETER));
    // A MAC over another subcommand's message.
    let req = raw_auth(2, Some(2), &token.param(&config_prefix(0x01)));
    assert_eq!(t.ctap_map(CONFIG, req), Err(PIN_AUTH_INVALID));
    // A MAC that does not cover the parameters it came with.
    let signed = min_pin_params(Some(8), None, None);
    let mut message = config_prefix(0x03);
    message.extend_from_slice(&signed.to_vec());
    let req = raw_auth(3, Some(2), &token.param(&message));
    let req = set(req, 2, min_pin_params(Some(9), None, None));
    assert_eq!(t.ctap_map(CONFIG, req), Err(PIN_AUTH_INVALID));
    // A token without acfg.
    let mc_token = t.token(2, PIN, MC, None).unwrap();
    assert_eq!(
        config(&mut t, Some(&mc_token), TOGGLE_ALWAYS_UV, None),
        Err(PIN_AUTH_INVALID)
    );
    // The right token, either protocol.
    let token = t.token(1, PIN, ACFG, None).unwrap();
    config(&mut t, Some(&token), TOGGLE_ALWAYS_UV, None).unwrap();
    assert_eq!(t.option("alwaysUv"), Some(true));
    assert_eq!(t.reload().option("alwaysUv"), Some(true), "persisted");
}

#[test]
fn request_errors() {
    let (mut t, token) = with_pin();
    assert_eq!(t.ctap_map(CONFIG, vec![]), Err(MISSING_PARAMETER));
    assert_eq!(
        t.ctap_map(CONFIG, vec![(int(1), Value::Bool(true))]),
        Err(CBOR_UNEXPECTED_TYPE)
    );
    assert_eq!(
        t.ctap_map(CONFIG, vec![(int(1), int(3)), (int(2), int(1))]),
        Err(CBOR_UNEXPECTED_TYPE)
    );
    assert_eq!(
        t.ctap_map(
            CONFIG,
            vec![
                (int(1), int(3)),
                (int(2), min_pin_params(None, None, None)),
                (int(3), text("2"))
            ]
        ),
        Err(CBOR_UNEXPECTED_TYPE)
    );
    let bad_ids = Value::Map(vec![(int(2), Value::Array(vec![int(1)]))]);
    assert_eq!(
        t.ctap_map(CONFIG, vec![(int(1), int(3)), (int(2), bad_ids)]),
        Err(CBOR_UNEXPECTED_TYPE)
    );
    for sub in [0, 4, 0xFF, 1 << 40] {
        assert_eq!(
            config(&mut t, Some(&token), sub, None),
            Err(INVALID_SUBCOMMAND),
            "{sub}"
        );
    }
}

#[test]
fn set_min_pin_length_rises_and_forces_a_pin_change() {
    let (mut t, token) = with_pin();
    set_min_pin_length(&mut t, Some(&token), Some(6), Some(&["example.com"]), None).unwrap();
    assert_eq!(t.info(0x0D), Some(int(6)));
    assert_eq!(
        t.info(0x0C),
        Some(Value::Bool(true)),
        "the 4-digit PIN must change"
    );
    assert_eq!(t.token(2, PIN, MC, None).err(), Some(PIN_POLICY_VIOLATION));
    assert_eq!(
        t.change_pin(2, PIN, "12345"),
        Err(PIN_POLICY_VIOLATION),
        "too short"
    );
    t.change_pin(2, PIN, "123456").unwrap();
    assert_eq!(t.info(0x0C), Some(Value::Bool(false)));
    let token = t.token(2, "123456", ACFG, None).unwrap();
    // Never lower, never above 63.
    for len in [5, 64] {
        assert_eq!(
            set_min_pin_length(&mut t, Some(&token), Some(len), None, None),
            Err(PIN_POLICY_VIOLATION),
            "{len}"
        );
    }
    assert_eq!(t.info(0x0D), Some(int(6)));
    // Too many RP IDs.
    let max = t.profile.max_rp_ids_for_set_min_pin_length;
    let ids = rp_ids(max + 1);
    assert_eq!(
        set_min_pin_length(&mut t, Some(&token), None, Some(&ids), None),
        Err(KEY_STORE_FULL),
        "§6.11.4: more RP IDs than maxRPIDsForSetMinPINLength"
    );
    // The minPinLength extension answers the listed RP only.
    for (rp, expected) in [("example.com", Some(int(6))), ("other.example", None)] {
        let mc_token = t.token(2, "123456", MC, None).unwrap();
        let req = extension(mc(rp, b"u", false), 6, "minPinLength", Value::Bool(true));
        let reg = t.make_credential(with_token(req, &mc_token, 8)).unwrap();
        assert_eq!(reg.extension("minPinLength"), expected, "{rp}");
    }
}

#[test]
fn force_change_pin() {
    let mut t = Tester::new();
    assert_eq!(
        set_min_pin_length(&mut t, None, None, None, Some(true)),
        Err(PIN_NOT_SET)
    );
    assert_eq!(t.info(0x0C), Some(Value::Bool(false)), "nothing written");
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, ACFG, None).unwrap();
    set_min_pin_length(&mut t, Some(&token), None, None, Some(true)).unwrap();
    assert_eq!(t.info(0x0C), Some(Value::Bool(true)));
    assert_eq!(t.info(0x0D), Some(int(4)), "minimum unchanged");
    // The same PIN again is not a change.
    assert_eq!(t.change_pin(2, PIN, PIN), Err(PIN_POLICY_VIOLATION));
    t.change_pin(2, PIN, "4321").unwrap();
    assert_eq!(t.info(0x0C), Some(Value::Bool(false)));
}

#[test]
fn always_uv_needs_a_token_for_every_assertion() {
    let (mut t, _) = with_pin();
    let mc_token = t.token(2, PIN, MC, None).unwrap();
    let id = t.register("a.example", b"u", Some(&mc_token));
    let token = t.token(2, PIN, ACFG, None).unwrap();
    config(&mut t, Some(&token), TOGGLE_ALWAYS_UV, None).unwrap();
    assert_eq!(
        t.ctap_map(0x02, ga("a.example", &[&id])),
        Err(PUAT_REQUIRED)
    );
    let ga_token = t.token(2, PIN, GA, None).unwrap();
    let req = with_token(ga("a.example", &[&id]), &ga_token, 6);
    assert!(t.ctap_map(0x02, req).is_ok());
}

#[test]
fn enterprise_attestation() {
    let (mut t, _) = with_pin();
    let mc_with = |t: &mut Tester, ep: Option<i64>| {
        let token = t.token(2, PIN, MC, None).unwrap();
        let mut req = with_token(mc("corp.example", b"u", false), &token, 8);
        if let Some(ep) = ep {
            req.push((int(0x0A), int(ep)));
        }
        t.make_credential(req).map(|r| r.response)
    };
    // Off until enabled: the parameter is refused.
    assert_eq!(mc_with(&mut t, Some(2)).err(), Some(INVALID_PARAMETER));
    let token = t.token(2, PIN, ACFG, None).unwrap();
    config(&mut t, Some(&token), ENABLE_EP, None).unwrap();
    assert_eq!(t.option("ep"), Some(true));
    let token = t.token(2, PIN, ACFG, None).unwrap();
    config(&mut t, Some(&token), ENABLE_EP, None).unwrap();
    // Mode 2 (platform-managed): epAtt.
    let v = mc_with(&mut t, Some(2)).unwrap();
    let m = IntMap::new(&v).unwrap();
    assert_eq!(m.get(4), Some(&Value::Bool(true)), "epAtt");
    assert_eq!(m.required(1).unwrap(), &text("packed"));
    let att = TextMap::new(m.required(3).unwrap()).unwrap();
    assert!(att.get("x5c").is_some(), "a full attestation");
    // Mode 1 (vendor-facilitated): the generic profile configures no RP, so regular
    // attestation (vendor_facilitated_enterprise_attestation covers a configured list).
    let v = mc_with(&mut t, Some(1)).unwrap();
    assert_eq!(IntMap::new(&v).unwrap().get(4), None);
    // Without the parameter: regular attestation.
    let v = mc_with(&mut t, None).unwrap();
    assert_eq!(IntMap::new(&v).unwrap().get(4), None);
    // §6.1.2 step 9.2: enabled, but a value other than 1 or 2.
    for mode in [0, 3, 255] {
        assert_eq!(
            mc_with(&mut t, Some(mode)).err(),
            Some(INVALID_OPTION),
            "{mode}"
        );
    }
    // Persisted; authenticatorReset disables it again.
    let mut t = t.reload();
    assert_eq!(t.option("ep"), Some(true));
    t.ctap(0x07, None).unwrap();
    assert_eq!(t.option("ep"), Some(false));
    assert_eq!(t.option("alwaysUv"), Some(false));
}

#[test]
fn reset_restores_every_setting() {
    let (mut t, token) = with_pin();
    set_min_pin_length(
        &mut t,
        Some(&token),
        Some(8),
        Some(&["example.com"]),
        Some(true),
    )
    .unwrap();
    let token = t.token(2, PIN, ACFG, None);
    assert_eq!(
        token.err(),
        Some(PIN_POLICY_VIOLATION),
        "force change pending"
    );
    t.ctap(0x07, None).unwrap();
    assert_eq!(t.info(0x0D), Some(int(4)));
    assert_eq!(t.info(0x0C), Some(Value::Bool(false)));
    assert!(t.state().pin.min_pin_length_rp_ids.is_empty());
}

/// Cards that cannot do enterprise attestation: no "ep" option, the makeCredential parameter
/// refused (§6.1.2 step 9.1), and authenticatorConfig answering as the card allows.
#[test]
fn cards_without_enterprise_attestation() {
    let mut no_ep = Profile::generic();
    no_ep.options.ep = false;
    // (card, its profile, authnrCfg, a subcommand and its answer).
    let cards = [
        (
            "a CTAP 2.0 card has no config",
            Profile::generic().restricted_to_ctap20(),
            None,
            TOGGLE_ALWAYS_UV,
            INVALID_COMMAND,
        ),
        (
            "a card without ep refuses enableEnterpriseAttestation",
            no_ep,
            Some(true),
            ENABLE_EP,
            INVALID_PARAMETER,
        ),
    ];
    for (card, profile, authnr_cfg, sub, answer) in cards {
        let mut t = Tester::with_profile(profile);
        assert_eq!(t.option("authnrCfg"), authnr_cfg, "{card}");
        assert_eq!(
            t.option("ep"),
            None,
            "{card}: not enterprise-attestation capable"
        );
        assert_eq!(
            mc_ep(&mut t, "corp.example", 2).err(),
            Some(INVALID_PARAMETER),
            "{card}"
        );
        assert_eq!(config(&mut t, None, sub, None), Err(answer), "{card}");
    }
}

#[test]
fn set_min_pin_length_needs_the_option() {
    let mut profile = Profile::generic();
    profile.options.set_min_pin_length = false;
    profile.extensions.retain(|e| *e != "minPinLength");
    profile.max_rp_ids_for_set_min_pin_length = 0;
    let mut t = Tester::with_profile(profile);
    assert_eq!(
        set_min_pin_length(&mut t, None, Some(6), None, None),
        Err(INVALID_SUBCOMMAND)
    );
    config(&mut t, None, TOGGLE_ALWAYS_UV, None).unwrap();
}

#[test]
fn a_fresh_card_and_reset_start_with_the_profiles_always_uv() {
    let mut profile = Profile::generic();
    profile.options.always_uv = true;
    let mut t = Tester::with_profile(profile);
    assert_eq!(t.option("alwaysUv"), Some(true), "factory setting");
    assert_eq!(t.option("makeCredUvNotRqd"), Some(false));
    assert_eq!(
        t.make_credential(mc("example.com", b"u", false)).err(),
        Some(PUAT_REQUIRED)
    );
    // alwaysUv on protects the card even without a PIN (§6.11): switching it off takes a PIN
    // and an acfg token.
    assert_eq!(
        config(&mut t, None, TOGGLE_ALWAYS_UV, None),
        Err(PUAT_REQUIRED)
    );
    t.set_pin(2, PIN).unwrap();
    let token = t.token(2, PIN, ACFG, None).unwrap();
    config(&mut t, Some(&token), TOGGLE_ALWAYS_UV, None).unwrap();
    // Switched off, it stays off across power cycles ...
    assert_eq!(t.reload().option("alwaysUv"), Some(false));
    t.power_cycle();
    assert_eq!(t.option("alwaysUv"), Some(false));
    // ... until authenticatorReset restores the model's setting.
    t.ctap(0x07, None).unwrap();
    assert_eq!(t.option("alwaysUv"), Some(true));
    assert!(t.state().pin.always_uv);
    // The generic card's factory setting is off, and reset keeps it off.
    let mut t = Tester::new();
    config(&mut t, None, TOGGLE_ALWAYS_UV, None).unwrap();
    assert_eq!(t.option("alwaysUv"), Some(true));
    t.ctap(0x07, None).unwrap();
    assert_eq!(t.option("alwaysUv"), Some(false));
}

/// §6.11: with alwaysUv on and no PIN set, an authenticatorConfig request without
/// pinUvAuthParam is CTAP2_ERR_PUAT_REQUIRED for every subcommand, toggleAlwaysUv included,
/// and changes nothing.
#[test]
fn always_uv_without_a_pin_requires_a_token_for_toggle_always_uv() {
    let mut profile = Profile::generic();
    profile.options.always_uv = true;
    let mut t = Tester::with_profile(profile);
    assert_eq!(t.option("clientPin"), Some(false));
    for (sub, params) in [
        (TOGGLE_ALWAYS_UV, None),
        (ENABLE_EP, None),
        (
            SET_MIN_PIN_LENGTH,
            Some(min_pin_params(Some(6), None, None)),
        ),
    ] {
        assert_eq!(
            config(&mut t, None, sub, params),
            Err(PUAT_REQUIRED),
            "{sub}"
        );
    }
    assert_eq!(t.option("alwaysUv"), Some(true));
    assert_eq!(t.option("ep"), Some(false));
    assert_eq!(t.info(0x0D), Some(int(4)));
}

/// §6.11.4: a minPinLengthRPIDs list the card cannot hold is CTAP2_ERR_KEY_STORE_FULL, and
/// nothing of the request is applied; a list of exactly maxRPIDsForSetMinPINLength fits.
#[test]
fn set_min_pin_length_with_too_many_rp_ids_is_key_store_full() {
    let mut t = Tester::new();
    let max = t.profile.max_rp_ids_for_set_min_pin_length;
    let ids = rp_ids(max + 1);
    assert_eq!(
        set_min_pin_length(&mut t, None, Some(8), Some(&ids), None),
        Err(KEY_STORE_FULL)
    );
    assert_eq!(t.info(0x0D), Some(int(4)), "nothing written");
    assert!(t.state().pin.min_pin_length_rp_ids.is_empty());
    set_min_pin_length(&mut t, None, None, Some(&ids[..max]), None).unwrap();
    assert_eq!(t.state().pin.min_pin_length_rp_ids.len(), max);
}

/// makeCredential with enterpriseAttestation on an enabled card (§6.1.2 step 9, §7.1): mode 1
/// attests for the profile's RP IDs only, mode 2 for any RP, other values are
/// CTAP2_ERR_INVALID_OPTION.
#[test]
fn vendor_facilitated_enterprise_attestation() {
    let mut profile = Profile::generic();
    profile.enterprise_attestation_rp_ids = vec!["corp.example".into()];
    let mut t = Tester::with_profile(profile);
    config(&mut t, None, ENABLE_EP, None).unwrap();
    let mut mc_with = |rp: &str, ep: i64| {
        let v = mc_ep(&mut t, rp, ep).map(|r| r.response)?;
        let m = IntMap::new(&v).unwrap();
        let att = TextMap::new(m.required(3).unwrap()).unwrap();
        assert!(
            att.get("x5c").is_some(),
            "{rp} {ep}: packed with the batch chain"
        );
        Ok::<_, u8>(m.get(4).cloned())
    };
    assert_eq!(
        mc_with("corp.example", 1),
        Ok(Some(Value::Bool(true))),
        "listed"
    );
    assert_eq!(mc_with("other.example", 1), Ok(None), "not listed: regular");
    assert_eq!(mc_with("sub.corp.example", 1), Ok(None), "exact match only");
    assert_eq!(
        mc_with("other.example", 2),
        Ok(Some(Value::Bool(true))),
        "mode 2"
    );
    assert_eq!(mc_with("corp.example", 2), Ok(Some(Value::Bool(true))));
    for mode in [0, 3] {
        assert_eq!(mc_with("corp.example", mode), Err(INVALID_OPTION), "{mode}");
    }
}

/// §6.1.2 step 9.1 comes before 9.2: on a card where enterprise attestation is not enabled,
/// any value — valid or not — is CTAP1_ERR_INVALID_PARAMETER.
#[test]
fn enterprise_attestation_not_enabled_is_invalid_parameter_for_any_value() {
    let mut t = Tester::new();
    for mode in [1, 2, 3] {
        assert_eq!(
            mc_ep(&mut t, "corp.example", mode).err(),
            Some(INVALID_PARAMETER),
            "{mode}"
        );
    }
}
