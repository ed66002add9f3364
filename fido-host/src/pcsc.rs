//! The PC/SC transport: a card in a reader, through pcscd (feature `pcsc`).

use crate::transport::{Transport, TransportError};

/// A connected PC/SC card.
pub struct PcscCard {
    card: pcsc::Card,
    buffer: Vec<u8>,
}

impl PcscCard {
    pub fn new(card: pcsc::Card) -> Self {
        Self {
            card,
            buffer: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        }
    }

    /// The card, e.g. to read its ATR.
    pub fn card(&self) -> &pcsc::Card {
        &self.card
    }

    /// Takes the card out of the field and powers it up again (SCardReconnect with
    /// SCARD_UNPOWER_CARD), as Windows does before authenticatorReset.
    pub fn reconnect_unpowered(&mut self) -> Result<(), pcsc::Error> {
        self.card.reconnect(
            pcsc::ShareMode::Shared,
            pcsc::Protocols::ANY,
            pcsc::Disposition::UnpowerCard,
        )
    }
}

impl Transport for PcscCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.card
            .transmit(apdu, &mut self.buffer)
            .map(<[u8]>::to_vec)
            .map_err(|e| TransportError(format!("SCardTransmit: {e}")))
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        self.card
            .status2_owned()
            .map(|s| s.atr().to_vec())
            .map_err(|e| TransportError(format!("SCardStatus: {e}")))
    }
    fn power_cycle(&mut self) -> Result<(), TransportError> {
        self.reconnect_unpowered()
            .map_err(|e| TransportError(format!("SCardReconnect(SCARD_UNPOWER_CARD): {e}")))
    }
}
