//! The text of the terminal display's lines: where a fan-out, a `waves` block and a
//! wait for a person stand, and the words each is shown in.

use std::time::Duration;

use crate::engine::facts::Need;

/// Hosts named on a line before the others are only counted.
const NAMED_HOSTS: usize = 3;

/// Where a fan-out stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct HostsDone {
    pub(super) total: usize,
    pub(super) done: usize,
    pub(super) failed: usize,
    pub(super) running: Vec<String>,
}

/// Where a `waves` block stands: its current wave, and the hosts of the waves before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WavesDone {
    pub(super) index: usize,
    pub(super) count: usize,
    pub(super) hosts: Vec<String>,
    pub(super) before: usize,
    pub(super) total: usize,
    pub(super) failed: usize,
    pub(super) finished: bool,
}

/// A wait for a person, as its line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WaitView {
    pub(super) need: Need,
    pub(super) node: String,
    pub(super) host: Option<String>,
    pub(super) owner: Option<String>,
}

/// The header's message: `run 20261121-140327-demo · 12 units done`.
pub(super) fn header_message(run_id: &str, done: usize) -> String {
    format!(
        "run {run_id} · {done} unit{} done",
        if done == 1 { "" } else { "s" }
    )
}

/// A fan-out's message beside its bar: `3/8 hosts done · 1 failed · running demo-04, demo-05`.
pub(super) fn hosts_message(hosts: &HostsDone) -> String {
    let mut text = format!(
        "{}/{} host{} done",
        hosts.done,
        hosts.total,
        if hosts.total == 1 { "" } else { "s" }
    );
    if hosts.failed > 0 {
        text.push_str(&format!(" · {} failed", hosts.failed));
    }
    if !hosts.running.is_empty() {
        text.push_str(" · running ");
        text.push_str(&name_some(&hosts.running));
    }
    text
}

/// A `waves` block's message: `4/8 hosts done · wave 2 of 3: demo-02, demo-03, demo-04`.
pub(super) fn waves_message(waves: &WavesDone) -> String {
    let done = if waves.finished {
        waves.before + waves.hosts.len()
    } else {
        waves.before
    };
    let mut text = format!("{done}/{} hosts done", waves.total);
    if waves.failed > 0 {
        text.push_str(&format!(" · {} failed", waves.failed));
    }
    text.push_str(&format!(" · wave {} of {}", waves.index + 1, waves.count));
    if waves.finished {
        text.push_str(" done");
    } else {
        text.push_str(": ");
        text.push_str(&name_range(&waves.hosts));
    }
    text
}

/// A few names, then how many more: `a, b, c and 2 more`.
fn name_some(names: &[String]) -> String {
    let shown = names[..names.len().min(NAMED_HOSTS)].join(", ");
    match names.len().saturating_sub(NAMED_HOSTS) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The hosts of a wave, which are consecutive in their inventory: `a, b, c` or
/// `demo-05 … demo-08 (4 hosts)`.
pub(super) fn name_range(hosts: &[String]) -> String {
    match hosts {
        [] => "no host".to_string(),
        [first, .., last] if hosts.len() > NAMED_HOSTS => {
            format!("{first} … {last} ({} hosts)", hosts.len())
        }
        _ => hosts.join(", "),
    }
}

/// The first line of a wait: what it waits for, for how long, and who may answer.
pub(super) fn waiting_line(view: &WaitView, waited: Duration) -> String {
    let on = view
        .host
        .as_deref()
        .map(|host| format!(" on {host}"))
        .unwrap_or_default();
    let what = match view.need {
        Need::Confirmation => "waits for a person to confirm it",
        Need::Decision => "waits for a decision",
        Need::Approval => "waits for an approval",
        Need::SkipPause => "pauses between waves",
    };
    let who = match &view.owner {
        Some(owner) => format!("owner: {owner}"),
        None => "no owner named: anyone may answer".to_string(),
    };
    format!(
        "⏸ {}{on} {what} · waiting {} · {who}",
        view.node,
        short_duration(waited)
    )
}

/// The command that answers a wait, as the person types it.
pub(super) fn answer_command(run_id: &str, view: &WaitView, records: &[&str]) -> String {
    let host = view
        .host
        .as_deref()
        .map(|host| format!(" --host {host}"))
        .unwrap_or_default();
    match view.need {
        Need::Confirmation => {
            let mut command = format!("runbook confirm {run_id} {}{host} --as NAME", view.node);
            for key in records {
                command.push_str(&format!(" --set {key}=..."));
            }
            command
        }
        Need::Decision => format!(
            "runbook decide {run_id} {}{host} retry|skip|fail --as NAME",
            view.node
        ),
        Need::Approval => format!(
            "runbook approve {run_id} {} --as NAME [--reject] [--reason TEXT]",
            view.node
        ),
        Need::SkipPause => format!("runbook skip-pause {run_id} --as NAME [--reason TEXT]"),
    }
}

/// `42s`, `3m05s`, `2h03m`.
pub(super) fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn a_fan_out_says_hosts_done_of_total_and_which_run() {
        let mut hosts = HostsDone {
            total: 8,
            ..HostsDone::default()
        };
        assert_eq!(hosts_message(&hosts), "0/8 hosts done");
        hosts.done = 3;
        hosts.running = vec!["demo-04".to_string(), "demo-05".to_string()];
        assert_eq!(
            hosts_message(&hosts),
            "3/8 hosts done · running demo-04, demo-05"
        );
        hosts.failed = 1;
        hosts.running = ["a", "b", "c", "d", "e"].map(str::to_string).to_vec();
        assert_eq!(
            hosts_message(&hosts),
            "3/8 hosts done · 1 failed · running a, b, c and 2 more"
        );
        let one = HostsDone {
            total: 1,
            done: 1,
            ..HostsDone::default()
        };
        assert_eq!(hosts_message(&one), "1/1 host done");
    }

    #[test]
    fn a_waves_block_says_hosts_done_and_the_wave_under_way() {
        let mut waves = WavesDone {
            index: 1,
            count: 3,
            hosts: hosts(&["demo-02", "demo-03", "demo-04"]),
            before: 1,
            total: 8,
            failed: 0,
            finished: false,
        };
        assert_eq!(
            waves_message(&waves),
            "1/8 hosts done · wave 2 of 3: demo-02, demo-03, demo-04"
        );
        waves.finished = true;
        waves.failed = 1;
        assert_eq!(
            waves_message(&waves),
            "4/8 hosts done · 1 failed · wave 2 of 3 done"
        );
        let last = WavesDone {
            index: 2,
            hosts: hosts(&["demo-05", "demo-06", "demo-07", "demo-08"]),
            before: 4,
            finished: false,
            failed: 0,
            ..waves
        };
        assert_eq!(
            waves_message(&last),
            "4/8 hosts done · wave 3 of 3: demo-05 … demo-08 (4 hosts)"
        );
    }

    #[test]
    fn a_wait_says_how_long_who_may_answer_and_how() {
        let view = WaitView {
            need: Need::Confirmation,
            node: "announce".to_string(),
            host: None,
            owner: Some("operator".to_string()),
        };
        assert_eq!(
            waiting_line(&view, Duration::from_secs(65)),
            "⏸ announce waits for a person to confirm it · waiting 1m05s · owner: operator"
        );
        assert_eq!(
            answer_command("RUN-1", &view, &["url", "ticket"]),
            "runbook confirm RUN-1 announce --as NAME --set url=... --set ticket=..."
        );
        let decision = WaitView {
            need: Need::Decision,
            node: "rollback:install".to_string(),
            host: Some("web-3".to_string()),
            owner: None,
        };
        assert_eq!(
            waiting_line(&decision, Duration::from_secs(7)),
            "⏸ rollback:install on web-3 waits for a decision · waiting 7s · no owner named: anyone may answer"
        );
        assert_eq!(
            answer_command("RUN-1", &decision, &[]),
            "runbook decide RUN-1 rollback:install --host web-3 retry|skip|fail --as NAME"
        );
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(Duration::from_millis(900)), "0s");
        assert_eq!(short_duration(Duration::from_secs(59)), "59s");
        assert_eq!(short_duration(Duration::from_secs(60)), "1m00s");
        assert_eq!(short_duration(Duration::from_secs(3599)), "59m59s");
        assert_eq!(
            short_duration(Duration::from_secs(3600 * 26 + 180)),
            "26h03m"
        );
    }
}
