//! Command chaining (ISO/IEC 7816-4 §5.3.3) and response chaining with 61XX + GET RESPONSE
//! (§5.3.4 / §7.6.1): the two ways a message longer than one short APDU crosses the interface.
//!
//! Both are pure state machines: the [`crate::Card`] feeds them commands and sends what they
//! return. Keeping them apart from the card makes them easy to property-test.

use crate::command::Command;
use crate::response::Response;
use crate::status::StatusWord;

/// What the card does with one part of a command chain.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainStep {
    /// A middle part was stored: answer 9000 and wait for the next one.
    Incomplete,
    /// A whole command (unchained, or a chain's last part glued to the earlier ones).
    Complete(Command),
    /// The chain was refused (too long); it has been dropped.
    Refused(StatusWord),
}

/// Reassembles chained command APDUs (CLA bit b5 = 0x10 on every part but the last).
///
/// A part whose CLA (without the chaining bit), INS, P1 or P2 differ from the chain's first
/// part is another command: the chain is dropped, never glued to it. The total length is
/// bounded so that a hostile host cannot exhaust memory.
#[derive(Debug)]
pub struct CommandChain {
    header: Option<[u8; 4]>,
    data: Vec<u8>,
    max_data: usize,
}

impl CommandChain {
    /// A chain buffer that refuses more than `max_data` bytes of reassembled data.
    pub fn new(max_data: usize) -> Self {
        Self {
            header: None,
            data: Vec::new(),
            max_data,
        }
    }

    /// True while parts of a chain wait for their last part.
    pub fn is_active(&self) -> bool {
        self.header.is_some()
    }

    /// Drops a chain in progress (power events, deselect, GET RESPONSE in the middle).
    pub fn reset(&mut self) {
        self.header = None;
        self.data = Vec::new();
    }

    /// Feeds one command APDU.
    pub fn push(&mut self, cmd: Command) -> ChainStep {
        let header = [cmd.cla & !0x10, cmd.ins, cmd.p1, cmd.p2];
        if self.header.is_some_and(|h| h != header) {
            tracing::debug!("command chain interrupted by another command; chain dropped");
            self.reset();
        }
        if self.data.len() + cmd.data.len() > self.max_data {
            self.reset();
            return ChainStep::Refused(StatusWord::WRONG_LENGTH);
        }
        if cmd.is_chained() {
            self.header = Some(header);
            self.data.extend_from_slice(&cmd.data);
            return ChainStep::Incomplete;
        }
        if self.header.take().is_none() {
            return ChainStep::Complete(cmd);
        }
        let mut data = std::mem::take(&mut self.data);
        data.extend_from_slice(&cmd.data);
        ChainStep::Complete(Command { data, ..cmd })
    }
}

/// The unsent rest of a response, served by GET RESPONSE.
#[derive(Debug, Default)]
pub struct ResponseChain {
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    offset: usize,
    sw: StatusWord,
}

impl ResponseChain {
    /// True when bytes wait for GET RESPONSE.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Bytes still waiting.
    pub fn remaining(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.data.len() - p.offset)
    }

    /// Discards the rest of a response: any command other than GET RESPONSE does this.
    pub fn discard(&mut self) {
        self.pending = None;
    }

    /// Sends `response` in parts of at most `chunk` data bytes: the first part now, the rest on
    /// GET RESPONSE. Returns the wire bytes of the first part.
    pub fn start(&mut self, response: Response, chunk: usize) -> Vec<u8> {
        self.pending = Some(Pending {
            data: response.data,
            offset: 0,
            sw: response.sw,
        });
        self.next_part(chunk)
            .unwrap_or_else(|| StatusWord::UNKNOWN.to_bytes().to_vec())
    }

    /// The next part for a GET RESPONSE asking for `chunk` bytes; `None` when nothing waits.
    pub fn next_part(&mut self, chunk: usize) -> Option<Vec<u8>> {
        let pending = self.pending.as_mut()?;
        let chunk = chunk.max(1);
        let end = pending.data.len().min(pending.offset.saturating_add(chunk));
        let mut out = Vec::with_capacity(end - pending.offset + 2);
        out.extend_from_slice(&pending.data[pending.offset..end]);
        pending.offset = end;
        let left = pending.data.len() - end;
        if left == 0 {
            out.extend_from_slice(&pending.sw.to_bytes());
            self.pending = None;
        } else {
            out.extend_from_slice(&StatusWord::more_data(left).to_bytes());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(cla: u8, data: &[u8]) -> Command {
        Command::new(cla, 0x10, 0x80, 0).with_data(data.to_vec())
    }

    #[test]
    fn a_chain_is_glued_in_order_and_keeps_the_last_le() {
        let mut chain = CommandChain::new(1000);
        assert_eq!(chain.push(part(0x90, &[1, 2])), ChainStep::Incomplete);
        assert_eq!(chain.push(part(0x90, &[3])), ChainStep::Incomplete);
        let last = part(0x80, &[4]).with_le(256);
        match chain.push(last) {
            ChainStep::Complete(cmd) => {
                assert_eq!(cmd.data, vec![1, 2, 3, 4]);
                assert_eq!(cmd.cla, 0x80);
                assert_eq!(cmd.le, Some(256));
            }
            other => panic!("{other:?}"),
        }
        assert!(!chain.is_active());
    }

    #[test]
    fn an_interrupting_command_drops_the_chain() {
        let mut chain = CommandChain::new(1000);
        assert_eq!(chain.push(part(0x90, &[1, 2])), ChainStep::Incomplete);
        let other = Command::new(0x00, 0xA4, 0x04, 0x00).with_data(vec![0xA0]);
        assert_eq!(chain.push(other.clone()), ChainStep::Complete(other));
        // The next final part stands alone: nothing of the dropped chain is glued to it.
        assert_eq!(
            chain.push(part(0x80, &[9])),
            ChainStep::Complete(part(0x80, &[9]))
        );
    }

    #[test]
    fn an_over_long_chain_is_refused_without_growing() {
        let mut chain = CommandChain::new(4);
        assert_eq!(chain.push(part(0x90, &[1, 2, 3])), ChainStep::Incomplete);
        assert_eq!(
            chain.push(part(0x90, &[4, 5])),
            ChainStep::Refused(StatusWord::WRONG_LENGTH)
        );
        assert!(!chain.is_active());
    }

    #[test]
    fn response_parts_count_down_with_61xx() {
        let mut rc = ResponseChain::default();
        let first = rc.start(Response::ok((0..600u16).map(|i| i as u8).collect()), 256);
        assert_eq!(first.len(), 258);
        assert_eq!(&first[256..], &[0x61, 0x00]); // 344 left: 00 means 256 or more
        let second = rc.next_part(256).unwrap();
        assert_eq!(&second[256..], &[0x61, 88]);
        let third = rc.next_part(256).unwrap();
        assert_eq!(third.len(), 90);
        assert_eq!(&third[88..], &[0x90, 0x00]);
        assert_eq!(rc.next_part(256), None);
    }
}
