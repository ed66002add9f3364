//! authenticatorSelection (CTAP 2.1 §6.9): "touch the key you want to use".
//!
//! A FIDO_2_1 authenticator must implement it; python-fido2 and Windows send it to let the user
//! pick one of several authenticators. On a card the tap already happened, so this is just the
//! presence policy.

use super::Authenticator;
use ctap_types::CtapResult;

pub fn process(auth: &mut Authenticator) -> CtapResult<()> {
    auth.check_user_presence()
}
