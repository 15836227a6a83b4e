//! The exit status of a command that ran: 0 the check holds, 1 it ran and failed, 2 part of
//! it could not run. An `Err` from a command is also 2 (`main`).

use reprove_release::verify::VerifyVerdict;

/// Exit status of a command that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The check holds.
    Pass = 0,
    /// The check ran and failed (a policy failed).
    Fail = 1,
    /// Part of the check could not run (a registry was unreachable); results were printed.
    CouldNotCheck = 2,
}

impl Outcome {
    /// 0 holds, 1 failed, anything higher could not check.
    pub fn from_severity(worst: u8) -> Outcome {
        match worst {
            0 => Outcome::Pass,
            1 => Outcome::Fail,
            _ => Outcome::CouldNotCheck,
        }
    }

    /// The exit status of a verification (`verify`, `report`).
    pub fn from_verdict(v: VerifyVerdict) -> Outcome {
        match v {
            VerifyVerdict::Verified | VerifyVerdict::VerifiedNoArtifactsChecked => Outcome::Pass,
            VerifyVerdict::Failed => Outcome::Fail,
            VerifyVerdict::CouldNotCheck => Outcome::CouldNotCheck,
        }
    }
}
