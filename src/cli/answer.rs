//! Answers from people to a run (`confirm`, `decide`, `approve`): logged directly when no engine
//! holds the run, else handed to the engine that waits for them.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use runbook::engine::clock::{Clock, RealClock};
use runbook::engine::facts::{Fact, Need, Outcome, Settlement};
use runbook::engine::history::History;
use runbook::engine::inbox::{self, Answer, Request};
use runbook::engine::{codes, fold_log, os_user, EngineError, Stopped};
use runbook::store::{self, StoreError};

use super::launch::{self, StateArg};
use super::{EXIT_FINDINGS, EXIT_USAGE};

/// How long an answer handed to a running engine may wait to be taken.
const HAND_OVER: Duration = Duration::from_secs(30);

/// Who answers which run's step, shared by `confirm` and `decide`.
#[derive(Debug, clap::Args)]
pub struct AnswerArgs {
    /// The run waiting for the answer.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// The step the answer is for.
    #[arg(value_name = "STEP")]
    pub step: String,
    /// Who answers (logged with the OS user).
    #[arg(long = "as", value_name = "NAME")]
    pub person: String,
    /// Only the step's unit on this host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    #[command(flatten)]
    pub state: StateArg,
}

pub struct Given<'a> {
    pub state_dir: &'a Path,
    pub run: &'a str,
    pub step: &'a str,
    pub host: Option<&'a str>,
    pub person: &'a str,
    pub answer: Answer,
}

impl AnswerArgs {
    pub fn give(&self, answer: Answer) -> ExitCode {
        give(Given {
            state_dir: &self.state.dir(),
            run: &self.run,
            step: &self.step,
            host: self.host.as_deref(),
            person: &self.person,
            answer,
        })
    }
}

pub fn give(given: Given<'_>) -> ExitCode {
    let clock = RealClock;
    match Stopped::open(given.state_dir, given.run, &clock) {
        Ok(mut stopped) => log_directly(&mut stopped, &given, &clock),
        Err(EngineError::Store(StoreError::Locked { .. })) => hand_over(&given, &clock),
        Err(error) => launch::engine_error(&error),
    }
}

/// Whatever the time allowed having run out already decided about the approvals of
/// `name` is logged first, as the engine would: a vote given after it counts only as
/// `on timeout` says (an escalation lets the commander answer; `abort` and `continue`
/// settle it).
fn log_lapses(stopped: &mut Stopped, name: &str, clock: &dyn Clock) -> Result<(), EngineError> {
    let now = clock.now_ms();
    let lapses: Vec<Fact> = stopped
        .history
        .approvals
        .iter()
        .filter(|(unit, approval)| approval.node == name || unit.as_str() == name)
        .filter(|(_, approval)| approval.tally().is_none())
        .filter_map(|(unit, approval)| {
            approval
                .lapse(now)
                .map(|lapse| runbook::engine::approval::Approval::lapse_fact(unit, lapse))
        })
        .collect();
    for fact in lapses {
        stopped.append_by(fact, None, clock)?;
    }
    Ok(())
}

/// No engine holds the run: the answer is judged here, and logged (taken or refused)
/// for the next `resume` to act on.
fn log_directly(stopped: &mut Stopped, given: &Given<'_>, clock: &dyn Clock) -> ExitCode {
    if let Some(status) = stopped.history.finished {
        return launch::engine_error(&EngineError::Finished {
            run: given.run.to_string(),
            status: runbook::engine::status_word(status),
        });
    }
    if given.answer.need() == Need::Approval {
        if let Err(error) = log_lapses(stopped, given.step, clock) {
            return launch::engine_error(&error);
        }
    }
    let units = match answerable(&stopped.history, given) {
        Ok(units) => units,
        Err(code) => return code,
    };
    let unit = units.first().map(String::as_str).unwrap_or_default();
    let role = match stopped.history.judge(&given.answer, unit, given.person) {
        Ok(role) => role,
        Err(refusal) => {
            let fact = Fact::Refused {
                node: match (&given.answer, &stopped.history.pause) {
                    (Answer::SkipPause { .. }, Some(pause)) => pause.waves.clone(),
                    _ => given.step.to_string(),
                },
                answer: given.answer.word().to_string(),
                why: refusal.to_string(),
            };
            if let Err(error) = stopped.append(fact, given.person.to_string(), clock) {
                return launch::engine_error(&error);
            }
            return refused(&refusal.to_string(), refusal.help());
        }
    };
    for unit in &units {
        let fact = given.answer.fact(unit, &role);
        if let Err(error) = stopped.append(fact, given.person.to_string(), clock) {
            return launch::engine_error(&error);
        }
        // A vote that decides its approval settles it here, so that no later vote
        // (a rejection after the quorum, say) can reverse what was decided.
        let decided = stopped
            .history
            .approvals
            .get(unit)
            .and_then(|approval| approval.tally());
        if let Some(approved) = decided {
            let settled = Fact::ApprovalSettled {
                unit: unit.clone(),
                approved,
                by: Settlement::Votes,
            };
            if let Err(error) = stopped.append_by(settled, None, clock) {
                return launch::engine_error(&error);
            }
        }
    }
    let what = match (&given.answer, &stopped.history.pause) {
        (Answer::SkipPause { .. }, Some(pause)) => {
            format!(
                "the pause before wave {} of {}",
                pause.index + 1,
                pause.waves
            )
        }
        _ => given.step.to_string(),
    };
    println!(
        "logged for {what} ({} unit{}); `runbook resume {}` goes on",
        units.len(),
        if units.len() == 1 { "" } else { "s" },
        given.run
    );
    ExitCode::SUCCESS
}

fn refused(message: &str, help: &str) -> ExitCode {
    super::output::coded_error(codes::REFUSED, message, help);
    ExitCode::from(EXIT_FINDINGS)
}

/// An engine is running the run: if the log shows it waiting for this answer, leave
/// the answer in its inbox and wait for the engine's word on it.
fn hand_over(given: &Given<'_>, clock: &dyn Clock) -> ExitCode {
    let events_path = store::events_path(given.state_dir, given.run);
    let Some(history) = store::Events::open(&events_path)
        .ok()
        .and_then(|mut events| fold_log(&mut events).ok())
    else {
        return not_waiting(given);
    };
    let units = match answerable(&history, given) {
        Ok(units) => units,
        Err(code) => return code,
    };
    // A vote is for one approval, named in the request: it never lands on another. A
    // pause is the one under way, answered under its waves block's name.
    let approval = match given.answer.need() {
        Need::Approval => units
            .first()
            .and_then(|unit| Some((unit.clone(), history.approvals.get(unit)?.node.clone()))),
        Need::SkipPause => units
            .first()
            .zip(history.pause.as_ref())
            .map(|(unit, pause)| (unit.clone(), pause.waves.clone())),
        _ => None,
    };
    let run_dir = store::run_dir(given.state_dir, given.run);
    let path = match inbox::deliver(&run_dir, &request(given, approval), clock.now_ms()) {
        Ok(path) => path,
        Err(error) => {
            eprintln!(
                "error[{}]: cannot leave the answer for the engine: {error}",
                codes::LOG_FAILED.as_str()
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let since = Instant::now();
    while since.elapsed() < HAND_OVER {
        if let Some(reply) = inbox::take_reply(&path) {
            if reply.taken {
                println!("{}", reply.message);
                return ExitCode::SUCCESS;
            }
            return refused(&reply.message, reply.help.as_deref().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = HAND_OVER.as_secs();
    let what = if std::fs::remove_file(&path).is_ok() {
        format!("did not take the answer within {seconds}s; it was withdrawn")
    } else {
        format!("took the answer but gave no word on it within {seconds}s; `runbook transcript` shows whether it was logged")
    };
    eprintln!(
        "error[{}]: the engine {what}\n  help: `runbook status {}` shows what the run waits for",
        codes::NOT_WAITING.as_str(),
        given.run
    );
    ExitCode::from(EXIT_FINDINGS)
}

/// The request for the engine; a vote names its approval's unit and node (a person
/// may have named the approval by its unit).
fn request(given: &Given<'_>, approval: Option<(String, String)>) -> Request {
    let (unit, node) = match approval {
        Some((unit, node)) => (Some(unit), node),
        None => (None, given.step.to_string()),
    };
    Request {
        node,
        unit,
        host: given.host.map(str::to_string),
        answer: given.answer.clone(),
        person: given.person.to_string(),
        os_user: os_user(),
    }
}

/// The units of the step this answer is for: waiting for it, or (for a decision)
/// failed and so open to a retry or a skip; for a vote, the one approval taking votes
/// under that name. Nothing to answer, or a vote that could be for several approvals,
/// ends the command with the error that says so.
fn answerable(history: &History, given: &Given<'_>) -> Result<Vec<String>, ExitCode> {
    let need = given.answer.need();
    if need == Need::SkipPause {
        return match &history.pause {
            Some(pause) if !pause.skipped => Ok(vec![runbook::engine::run_wave_key(
                &pause.waves,
                pause.index,
            )]),
            _ => Err(not_waiting(given)),
        };
    }
    if need == Need::Approval {
        let open = history.open_approvals(given.step);
        return match open.as_slice() {
            [] => Err(not_waiting(given)),
            [(unit, _)] => Ok(vec![unit.to_string()]),
            several => {
                let units: Vec<&str> = several.iter().map(|(unit, _)| *unit).collect();
                eprintln!(
                    "error[{}]: {} approvals of `{}` are open: {}\n  help: name the one you vote on, e.g. `runbook approve {} '{}' --as NAME`",
                    codes::NOT_WAITING.as_str(),
                    units.len(),
                    given.step,
                    units.join(", "),
                    given.run,
                    units[0]
                );
                Err(ExitCode::from(EXIT_FINDINGS))
            }
        };
    }
    let mut units: Vec<String> = history
        .units
        .iter()
        .filter(|(_, record)| record.node == given.step)
        .filter(|(_, record)| given.host.is_none() || record.host.as_deref() == given.host)
        .filter(|(_, record)| {
            record.waiting == Some(need)
                || (need == Need::Decision
                    && matches!(record.outcome, Some(Outcome::Failed { .. })))
        })
        .map(|(unit, _)| unit.clone())
        .collect();
    if units.is_empty() {
        return Err(not_waiting(given));
    }
    units.sort();
    Ok(units)
}

fn not_waiting(given: &Given<'_>) -> ExitCode {
    let what = match given.answer.need() {
        Need::Confirmation => "a confirmation",
        Need::Decision => "a decision",
        Need::Approval => "an approval",
        Need::SkipPause => "the end of a pause between waves",
    };
    let on = match given.step {
        "" => String::new(),
        step => format!(" on `{step}`"),
    };
    eprintln!(
        "error[{}]: run `{}` is not waiting for {what}{on}{}\n  help: `runbook status {}` shows what it waits for",
        codes::NOT_WAITING.as_str(),
        given.run,
        given.host.map(|host| format!(" on {host}")).unwrap_or_default(),
        given.run
    );
    ExitCode::from(EXIT_FINDINGS)
}
