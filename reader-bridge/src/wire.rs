//! Limits of the vpicc wire format.
//!
//! Each vpicc message is a 2-byte big-endian length followed by that many bytes, so a message
//! carries at most 65535 bytes. The `vpicc` crate casts the length to `u16` without checking: a
//! longer response would be sent with a truncated length and desynchronise the stream. The card
//! answers such a response with `6F00` (no precise diagnosis) instead.

/// The largest payload one vpicc message can carry.
pub const MAX_VPCD_PAYLOAD: usize = u16::MAX as usize;

/// `6F00`: what the card answers instead of a response too long for vpcd.
pub const NO_PRECISE_DIAGNOSIS: [u8; 2] = [0x6F, 0x00];

/// A response that does not fit into one vpicc message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("response of {len} bytes exceeds vpcd's {MAX_VPCD_PAYLOAD}-byte message limit")]
pub struct ResponseTooLong {
    /// Length of the refused response.
    pub len: usize,
}

/// Passes a response through if vpcd can carry it.
pub fn check_response(response: Vec<u8>) -> Result<Vec<u8>, ResponseTooLong> {
    if response.len() > MAX_VPCD_PAYLOAD {
        Err(ResponseTooLong {
            len: response.len(),
        })
    } else {
        Ok(response)
    }
}

/// [`check_response`], answering `6F00` (and logging an error) for a response that is too long.
pub fn response_or_6f00(response: Vec<u8>) -> Vec<u8> {
    match check_response(response) {
        Ok(response) => response,
        Err(e) => {
            tracing::error!("{e}; answering 6F00");
            NO_PRECISE_DIAGNOSIS.to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_responses_up_to_the_limit() {
        assert_eq!(check_response(vec![0x90, 0x00]), Ok(vec![0x90, 0x00]));
        let max = vec![0xAB; MAX_VPCD_PAYLOAD];
        assert_eq!(check_response(max.clone()), Ok(max));
        assert_eq!(check_response(Vec::new()), Ok(Vec::new()));
    }

    #[test]
    fn refuses_one_byte_more() {
        let too_long = vec![0; MAX_VPCD_PAYLOAD + 1];
        assert_eq!(
            check_response(too_long),
            Err(ResponseTooLong {
                len: MAX_VPCD_PAYLOAD + 1
            })
        );
    }

    #[test]
    fn too_long_becomes_6f00() {
        assert_eq!(response_or_6f00(vec![0; 70_000]), vec![0x6F, 0x00]);
        assert_eq!(response_or_6f00(vec![0x61, 0x10]), vec![0x61, 0x10]);
    }
}
