//! Transient memory, as Java Card's `JCSystem.makeTransient*Array` (Java Card 3 RE §6.1).
//!
//! An applet keeps session state (a pending assertion list, a PIN token) in `Transient` fields
//! and forwards the runtime's events to them: `CLEAR_ON_RESET` contents vanish at power-up and
//! warm reset, `CLEAR_ON_DESELECT` contents also when the applet is deselected.

use std::ops::{Deref, DerefMut};

/// When a transient value returns to its default.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClearOn {
    /// Cleared at power-up, warm reset and power-off (`CLEAR_ON_RESET`).
    Reset,
    /// Cleared as for `Reset`, and also when the owning applet is deselected (`CLEAR_ON_DESELECT`).
    Deselect,
}

/// The event an applet forwards to its transient fields.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TransientEvent {
    Reset,
    Deselect,
}

/// A value in transient memory.
#[derive(Debug)]
pub struct Transient<T: Default> {
    value: T,
    clear_on: ClearOn,
}

impl<T: Default> Transient<T> {
    pub fn new(clear_on: ClearOn) -> Self {
        Self {
            value: T::default(),
            clear_on,
        }
    }

    /// Clears the value if `event` is one of its clearing events.
    pub fn on_event(&mut self, event: TransientEvent) {
        let clear = match (self.clear_on, event) {
            (_, TransientEvent::Reset) => true,
            (ClearOn::Deselect, TransientEvent::Deselect) => true,
            (ClearOn::Reset, TransientEvent::Deselect) => false,
        };
        if clear {
            self.value = T::default();
        }
    }

    /// Takes the value out, leaving the default in its place.
    pub fn take(&mut self) -> T {
        std::mem::take(&mut self.value)
    }
}

impl<T: Default> Deref for Transient<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Default> DerefMut for Transient<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_on_reset_survives_deselect() {
        let mut t: Transient<Vec<u8>> = Transient::new(ClearOn::Reset);
        t.push(1);
        t.on_event(TransientEvent::Deselect);
        assert_eq!(*t, vec![1]);
        t.on_event(TransientEvent::Reset);
        assert!(t.is_empty());
    }

    #[test]
    fn clear_on_deselect_clears_on_both() {
        let mut t: Transient<u32> = Transient::new(ClearOn::Deselect);
        *t = 5;
        t.on_event(TransientEvent::Deselect);
        assert_eq!(*t, 0);
        *t = 6;
        t.on_event(TransientEvent::Reset);
        assert_eq!(*t, 0);
        *t = 7;
        assert_eq!(t.take(), 7);
        assert_eq!(*t, 0);
    }
}
