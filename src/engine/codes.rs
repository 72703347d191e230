//! The run stage's diagnostics catalogue: what stops a run from starting or going on.

use crate::diagnostic::Code;

pub const UNKNOWN_PARAM: Code = Code::error(
    "rbk::run::unknown_param",
    "`--param` names a parameter the runbook does not declare",
);
pub const MISSING_PARAM: Code = Code::error(
    "rbk::run::missing_param",
    "a parameter without a default was not given",
);
pub const BAD_PARAM: Code = Code::error(
    "rbk::run::bad_param",
    "a parameter's value does not fit its type, or is not written `name=value`",
);
pub const SECRET_UNAVAILABLE: Code = Code::error(
    "rbk::run::secret_unavailable",
    "a secret's environment variable or file cannot be read",
);
pub const NO_SUCH_RUN: Code = Code::error(
    "rbk::run::no_such_run",
    "no run of that id in the state folder",
);
pub const FINISHED: Code = Code::error(
    "rbk::run::finished",
    "the run has finished; there is nothing to resume or answer",
);
pub const DRILL_NOT_RESUMED: Code = Code::error(
    "rbk::run::drill_not_resumed",
    "the run is a drill, which is run again rather than resumed",
);
pub const SOURCE_CHANGED: Code = Code::error(
    "rbk::run::source_changed",
    "the runbook was edited since the run started (resume with --accept-changes)",
);
pub const LOCKED: Code = Code::error("rbk::run::locked", "another engine holds the run");
pub const NOT_WAITING: Code = Code::error(
    "rbk::run::not_waiting",
    "the run is not waiting for that answer from anybody",
);
pub const REFUSED: Code = Code::error(
    "rbk::run::refused",
    "an answer was refused: the person is not in the run's roster, holds none of the roles asked, already voted, or took part in what they would approve",
);
pub const UNKNOWN_PERSON: Code = Code::error(
    "rbk::run::unknown_person",
    "`--as` names someone who is not in the runbook's roster",
);
pub const NO_ROSTER: Code = Code::error(
    "rbk::run::no_roster",
    "the runbook asks for approvals by role but has no roster saying who holds them",
);
pub const OTHER_VERSION: Code = Code::error(
    "rbk::run::other_version",
    "the run's log was written by another version of runbook, in a format this one does not read",
);
pub const LOG_BROKEN: Code = Code::error(
    "rbk::run::log_broken",
    "the run's log does not verify (changed, cut or out of order), so it is not taken up again",
);
pub const LOG_FAILED: Code = Code::error(
    "rbk::run::log_failed",
    "the run's log or folder cannot be written or read",
);

pub const REMOTE_SETUP: Code = Code::error(
    "rbk::run::remote_setup",
    "the hosts reached over SSH cannot be set up: one host reached two ways, a shipped file unreadable, or no private folder for ssh",
);

pub const ALL: &[Code] = &[
    UNKNOWN_PARAM,
    MISSING_PARAM,
    BAD_PARAM,
    SECRET_UNAVAILABLE,
    NO_SUCH_RUN,
    FINISHED,
    DRILL_NOT_RESUMED,
    SOURCE_CHANGED,
    LOCKED,
    NOT_WAITING,
    REFUSED,
    UNKNOWN_PERSON,
    NO_ROSTER,
    OTHER_VERSION,
    LOG_BROKEN,
    LOG_FAILED,
    REMOTE_SETUP,
];
