//! The plain text of a run: the one-line form of each fact worth a line, and the
//! times shown beside it.

use std::time::{Duration, UNIX_EPOCH};

use crate::ast::Word;
use crate::engine::facts::{Fact, Need, Outcome, RunStatus, Settlement};

/// `14:03:27`, in UTC like every time the tool shows.
pub fn clock_time(time_ms: u64) -> String {
    let stamp = timestamp(time_ms);
    stamp.get(11..19).unwrap_or(&stamp).to_string()
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z), in milliseconds.
const LAST_WRITABLE_MS: u64 = 253_402_300_799_000;

/// `2026-11-21T14:03:27Z`; a time past the year 9999 (a deadline of `within 5000000d`,
/// say) is shown as that year's end rather than not at all.
pub fn timestamp(time_ms: u64) -> String {
    let time_ms = time_ms.min(LAST_WRITABLE_MS);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(time_ms)).to_string()
}

/// The one-line form of the facts worth a line; the rest (output, command starts)
/// are in the log and the transcript.
pub fn line(fact: &Fact) -> Option<String> {
    let on = |host: &Option<String>| {
        host.as_deref()
            .map(|host| format!(" on {host}"))
            .unwrap_or_default()
    };
    Some(match fact {
        Fact::RunStarted(started) => format!(
            "run {} started: {} ({})",
            started.run, started.runbook, started.file
        ),
        Fact::RunResumed { .. } => "run resumed".to_string(),
        Fact::RemoteAccess(access) => {
            let keys = if access.accept_new_host_keys {
                "; host keys not yet known are accepted (--accept-new-host-keys)"
            } else {
                ""
            };
            let shipped: Vec<String> = access
                .shipped
                .iter()
                .map(|file| format!("{} (sha256 {})", file.path, file.sha256))
                .collect();
            let shipped = if shipped.is_empty() {
                String::new()
            } else {
                format!("; copied to each: {}", shipped.join(", "))
            };
            format!(
                "{} host(s) reached over SSH{keys}{shipped}",
                access.ssh.len()
            )
        }
        Fact::ChangesAccepted { .. } => "the edited runbook was accepted".to_string(),
        Fact::UnitStarted {
            unit,
            node,
            host,
            attempt,
        } => {
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            if unit.starts_with(crate::compile::ROLLBACK_PREFIX) {
                let step = node
                    .strip_prefix(crate::compile::ROLLBACK_PREFIX)
                    .unwrap_or(node);
                format!("↺ undo {step}{}{again}", on(host))
            } else {
                format!("▶ {node}{}{again}", on(host))
            }
        }
        Fact::UnitFinished {
            unit,
            outcome,
            summary,
        } => {
            let why = summary
                .as_deref()
                .map(|summary| format!(": {summary}"))
                .unwrap_or_default();
            match outcome {
                Outcome::Succeeded { .. } => format!("✔ {unit}"),
                Outcome::Failed { class } => format!("✘ {unit} failed ({}){why}", class.word()),
                Outcome::Skipped {} => format!("↷ {unit} skipped{why}"),
            }
        }
        Fact::Waiting {
            unit, need, text, ..
        } => match need {
            Need::Confirmation => format!("⏸ {unit} needs a person:\n{}", indent(text)),
            Need::Decision => format!("⏸ {unit} needs a decision: {text}"),
            Need::Approval => format!("⏸ {unit} needs an approval: {text}"),
            Need::SkipPause => format!("⏸ {unit}: {text}"),
        },
        Fact::Voted {
            unit,
            role,
            approve,
            reason,
        } => {
            let word = if *approve { "approved" } else { "REJECTED" };
            let why = reason
                .as_deref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default();
            format!("{unit}: {word} as {role}{why}")
        }
        Fact::Evaluated {
            unit,
            condition,
            values,
            unreadable,
            holds,
            error,
        } => {
            let mut read: Vec<String> = values
                .iter()
                .map(|(name, value)| format!("{name} = {value}"))
                .collect();
            read.extend(
                unreadable
                    .iter()
                    .map(|(name, why)| format!("{name} unreadable: {why}")),
            );
            let verdict = match (holds, error) {
                (Some(true), _) => "holds".to_string(),
                (Some(false), _) => "DOES NOT HOLD".to_string(),
                (None, Some(error)) => format!("cannot be told: {error}"),
                (None, None) => "cannot be told".to_string(),
            };
            format!(
                "{unit}: `{}` {verdict} ({})",
                condition.trim(),
                read.join(", ")
            )
        }
        Fact::Baseline {
            taken_for,
            values,
            unreadable,
        } => {
            let mut read: Vec<String> = values
                .iter()
                .map(|(name, value)| format!("{name} = {value}"))
                .collect();
            read.extend(unreadable.keys().map(|name| format!("{name} unreadable")));
            format!("{taken_for}: baseline {}", read.join(", "))
        }
        Fact::Refused { node, answer, why } => format!("{node}: {answer} refused: {why}"),
        Fact::Escalated { unit, roles } => match roles.as_slice() {
            [] => format!(
                "{unit}: nobody answered in time; still waiting (no role above those asked)"
            ),
            _ => format!(
                "{unit}: nobody answered in time; escalated to {}, still waiting",
                roles.join(", ")
            ),
        },
        Fact::ApprovalSettled { unit, approved, by } => {
            let how = match (approved, by) {
                (true, Settlement::Votes) => "approved",
                (false, Settlement::Votes) => "rejected",
                (true, Settlement::Timeout) => {
                    "approved: nobody answered in time (`on timeout continue`)"
                }
                (false, Settlement::Timeout) => {
                    "rejected: nobody answered in time (`on timeout abort`)"
                }
            };
            format!("{} {unit} {how}", if *approved { "✔" } else { "✘" })
        }
        Fact::Confirmed { unit, .. } => format!("✔ {unit} confirmed"),
        Fact::Decided { unit, decision } => format!("{unit}: decided {decision:?}").to_lowercase(),
        Fact::WavePause {
            waves,
            index,
            until_ms,
            ..
        } => format!(
            "{waves}: pause until {} before wave {}",
            clock_time(*until_ms),
            index + 1
        ),
        Fact::PauseSkipped {
            waves,
            index,
            reason,
        } => format!(
            "{waves}: the pause before wave {} was cut short{}",
            index + 1,
            reason
                .as_deref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        ),
        Fact::Sampled {
            key,
            from,
            percent,
            hosts,
        } => format!(
            "{key}: sampled {percent}% of {from}: {}",
            super::messages::name_range(hosts)
        ),
        Fact::WaveStarted {
            waves,
            index,
            count,
            hosts,
        } => format!(
            "{waves}: wave {} of {count}, {} host{}",
            index + 1,
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        ),
        Fact::WaveFinished {
            waves,
            index,
            failed,
        } => {
            if failed.is_empty() {
                format!("{waves}: wave {} done", index + 1)
            } else {
                format!(
                    "{waves}: wave {} done, failed on {}",
                    index + 1,
                    failed.join(", ")
                )
            }
        }
        Fact::Failure {
            class,
            node,
            host,
            summary,
            ..
        } => format!("{} failure at {node}{}: {summary}", class.word(), on(host)),
        Fact::PolicyAction { action, .. } => format!("policy: {action}"),
        Fact::Notice {
            audience, message, ..
        } => format!("notice to {audience}: {message}"),
        Fact::Delivered {
            channel,
            ok,
            attempts,
            detail,
            ..
        } => {
            if *ok {
                return None;
            }
            format!("notice via {channel} NOT DELIVERED after {attempts} attempt(s): {detail}")
        }
        Fact::Objective {
            objective,
            limit_ms,
            met,
            after_ms,
        } => {
            let limit = crate::ast::duration_text(*limit_ms);
            let after = after_ms
                .map(|after| format!(" after {}", crate::ast::duration_text(after)))
                .unwrap_or_default();
            if *met {
                format!("◎ objective {objective} ({limit}) met{after}")
            } else {
                format!("‼ objective {objective} ({limit}) BREACHED{after}")
            }
        }
        Fact::RollbackStarted { scope, units, .. } => {
            format!("↺ rollback ({scope}) of {} unit(s)", units.len())
        }
        Fact::RollbackFinished { succeeded, .. } => {
            if *succeeded {
                "↺ rollback done".to_string()
            } else {
                "‼ ROLLBACK FAILED: people must take over".to_string()
            }
        }
        Fact::RunPaused { reason } => format!("run paused: {reason}"),
        Fact::RunFinished { status } => match status {
            RunStatus::Completed => "run completed".to_string(),
            RunStatus::Failed => "run failed".to_string(),
            RunStatus::RollbackFailed => "run ended with a failed rollback".to_string(),
        },
        Fact::CommandStarted { .. } | Fact::Output { .. } | Fact::CommandFinished { .. } => {
            return None
        }
    })
}

fn indent(text: &str) -> String {
    text.trim()
        .lines()
        .map(|line| format!("    {}", line.trim()))
        .collect::<Vec<_>>()
        .join("\n")
}
