//! Host personas: what one platform sends a card, played step by step so a card can be judged
//! the way that platform will judge it. Each step is named, passes, fails or is skipped the way
//! the platform would skip it (a feature the card does not declare), and keeps the operations
//! that decided it as evidence.
//!
//! - [`windows`]: Windows 10/11's smart-card FIDO stack (webauthn.dll and Settings → Accounts →
//!   Sign-in options → Security key) over NFC / PC/SC.

pub mod windows;

use crate::client::{Client, ClientError, Op};

/// A step's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Pass,
    Fail,
    /// Not played, the way the platform would not play it (the reason is in the summary).
    Skip,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pass => "PASS",
            StepStatus::Fail => "FAIL",
            StepStatus::Skip => "SKIP",
        }
    }
}

/// One step of a persona's run.
#[derive(Debug, Clone)]
pub struct Step {
    /// A stable name, e.g. `settings-set-pin`.
    pub name: &'static str,
    /// What the user does on the platform to cause it.
    pub title: &'static str,
    pub status: StepStatus,
    /// Why it passed, failed or was skipped.
    pub summary: String,
    /// The operations (APDUs and decoded answers) of the step.
    pub evidence: Vec<Op>,
}

/// Why a step did not pass.
#[derive(Debug)]
pub(crate) enum Stop {
    Fail(String),
    Skip(String),
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Self {
        Stop::Fail(e.to_string())
    }
}

pub(crate) type Verdict = Result<String, Stop>;

/// A persona's state, which holds the client the steps talk through.
pub(crate) trait HasClient {
    fn client(&mut self) -> &mut Client;
}

/// Runs `f` as step `name`, recording the client's operations as its evidence.
pub(crate) fn play<S: HasClient>(
    state: &mut S,
    steps: &mut Vec<Step>,
    name: &'static str,
    title: &'static str,
    f: impl FnOnce(&mut S) -> Verdict,
) -> StepStatus {
    let mark = state.client().mark();
    let (status, summary) = match f(state) {
        Ok(s) => (StepStatus::Pass, s),
        Err(Stop::Fail(s)) => (StepStatus::Fail, s),
        Err(Stop::Skip(s)) => (StepStatus::Skip, s),
    };
    steps.push(Step {
        name,
        title,
        status,
        summary,
        evidence: state.client().ops_since(mark),
    });
    status
}
