//! How a host reaches a card: one command APDU in, one response APDU out (ISO/IEC 7816-4 §5),
//! plus the card's ATR and taking it out of the field and back.
//!
//! Implementations: [`apdu::Card`] (an in-process card: tests, benches, replay), [`VirtualCard`]
//! (the same with an ATR to report), and [`crate::pcsc::PcscCard`] (a reader through pcscd,
//! feature `pcsc`).

/// Why an APDU could not be exchanged (the reader, the driver or the link failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Something that exchanges APDUs with a card.
pub trait Transport {
    /// Sends one command APDU; returns the response APDU (data ‖ SW1 SW2).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// The card's answer to reset.
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        Err(TransportError("this transport has no ATR".into()))
    }

    /// Removes power and powers the card up again (PC/SC: SCardReconnect with
    /// SCARD_UNPOWER_CARD), as Windows does right before authenticatorReset.
    fn power_cycle(&mut self) -> Result<(), TransportError> {
        Err(TransportError("this transport cannot power-cycle".into()))
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        (**self).atr()
    }
    fn power_cycle(&mut self) -> Result<(), TransportError> {
        (**self).power_cycle()
    }
}

/// An in-process card: its `transmit` cannot fail.
impl Transport for apdu::Card {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(apdu::Card::transmit(self, apdu))
    }
    fn power_cycle(&mut self) -> Result<(), TransportError> {
        self.power_off();
        self.power_on();
        Ok(())
    }
}

/// An in-process card and the ATR a reader would report for it.
pub struct VirtualCard {
    pub card: apdu::Card,
    pub atr: Vec<u8>,
}

impl Transport for VirtualCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.card.transmit(apdu))
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        Ok(self.atr.clone())
    }
    fn power_cycle(&mut self) -> Result<(), TransportError> {
        self.card.power_off();
        self.card.power_on();
        Ok(())
    }
}
