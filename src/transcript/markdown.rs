//! The Markdown format (GitHub-flavoured), for a ticket or the post-mortem document:
//! the header, the key moments, the full timeline, then a section per kind of thing an
//! auditor checks. Everything from the log is user data: it is escaped so that it can
//! neither format nor break the page (a step's output holding `|`, `*` or `<script>`).

use std::fmt::Write as _;

use super::model::{
    elapsed, seconds, About, At, Command, Entry, EvaluationKind, Part, Transcript, TO_FILL_IN,
};
use crate::ast::shown_escaped;

/// Output lines shown per command; the rest are counted, and are in the log.
const OUTPUT_LINES: usize = 20;
/// A command is cut to this many characters in the timeline; its section has it whole.
const COMMAND_CHARS: usize = 80;

pub fn render(transcript: &Transcript) -> String {
    let mut md = String::new();
    header(&mut md, transcript);
    key_moments(&mut md, transcript);
    timeline(&mut md, transcript);
    answers(&mut md, transcript);
    commands(&mut md, transcript);
    evaluations(&mut md, transcript);
    objectives(&mut md, transcript);
    notices(&mut md, transcript);
    postmortem(&mut md, transcript);
    if let Some(header) = &transcript.header {
        let _ = writeln!(
            md,
            "## Runbook source\n\nThe runbook as the run started (sha256 {}):\n\n{}",
            code(&header.source_sha256),
            fenced(&header.source, "")
        );
    }
    if let Some(chain) = &transcript.chain {
        let _ = writeln!(
            md,
            "---\n\n{} events from {} to {}; the chain verifies (last hash {}).",
            chain.events,
            chain.first.time,
            chain.last.time,
            code(&chain.last_hash)
        );
    }
    md
}

fn header(md: &mut String, transcript: &Transcript) {
    let Some(header) = &transcript.header else {
        let _ = writeln!(
            md,
            "# Transcript\n\nThe log does not start with a run: it has no header.\n"
        );
        return;
    };
    let named = header.title.as_deref().unwrap_or(&header.runbook);
    // A rehearsal must never be read as a change.
    let drill = if header.drill.is_some() {
        "Drill: "
    } else {
        ""
    };
    let _ = writeln!(md, "# {drill}{}\n", text(named));
    let _ = writeln!(md, "| | |\n|---|---|");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(md, "| {name} | {value} |");
    };
    row(
        "Runbook",
        format!(
            "{}{} ({})",
            cell_code(&header.runbook),
            header
                .title
                .as_deref()
                .map(|title| format!(": {}", text(title)))
                .unwrap_or_default(),
            cell_code(&header.file)
        ),
    );
    row("Run", cell_code(&header.run));
    let by = transcript
        .who(header.person.as_deref(), header.os_user.as_deref())
        .unwrap_or_else(|| header.started_by.clone());
    row("Started by", text(&by));
    row("Machine", text(&header.machine));
    row(
        "Runbook version",
        format!("sha256 {}", cell_code(&header.source_sha256)),
    );
    for edit in &header.accepted_edits {
        row(
            "Edit accepted",
            format!(
                "{} UTC: sha256 {}{}",
                edit.at.utc(),
                cell_code(&edit.source_sha256),
                transcript
                    .who(edit.person.as_deref(), edit.os_user.as_deref())
                    .map(|who| format!(", by {}", text(&who)))
                    .unwrap_or_default()
            ),
        );
    }
    row("Started", format!("{} UTC", header.started.utc()));
    row("Status", format!("**{}**", header.status.words()));
    if let Some(drill) = &header.drill {
        row(
            "Drill",
            format!("yes: {}", text(&super::drill_words(drill))),
        );
    }
    row(
        "Engine",
        text(&format!("runbook {}", header.engine_version)),
    );
    md.push('\n');
    if !header.params.is_empty() {
        let _ = writeln!(md, "Parameters:\n\n| Name | Value |\n|---|---|");
        for (name, value) in &header.params {
            let _ = writeln!(md, "| {} | {} |", text(name), cell_code(value));
        }
        md.push('\n');
    }
    if !header.inventories.is_empty() {
        let _ = writeln!(md, "Hosts:\n\n| Inventory | Hosts |\n|---|---|");
        for (name, hosts) in &header.inventories {
            let _ = writeln!(md, "| {} | {} |", text(name), text(&hosts.join(", ")));
        }
        md.push('\n');
    }
    if !header.people.is_empty() {
        let _ = writeln!(
            md,
            "People, as the roster stood when the run started:\n\n| Login | Name | Roles |\n|---|---|---|"
        );
        for person in &header.people {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                text(&person.login),
                text(person.name.as_deref().unwrap_or_default()),
                text(&person.roles.join(", "))
            );
        }
        md.push('\n');
    }
}

fn key_moments(md: &mut String, transcript: &Transcript) {
    let _ = writeln!(
        md,
        "## Key moments\n\n| Moment | Time (UTC) | Since start | Since first failure | What |\n|---|---|---|---|---|"
    );
    for moment in &transcript.key_moments {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            moment.moment.label(),
            moment
                .at
                .as_ref()
                .map(At::utc)
                .unwrap_or_else(|| "—".into()),
            moment
                .since_start_ms
                .map(elapsed)
                .unwrap_or_else(|| "—".into()),
            moment
                .since_failure_ms
                .map(elapsed)
                .unwrap_or_else(|| "—".into()),
            text(&moment.detail)
        );
    }
    md.push('\n');
}

fn timeline(md: &mut String, transcript: &Transcript) {
    let _ = writeln!(
        md,
        "## Timeline\n\n| Time (UTC) | What happened | By |\n|---|---|---|"
    );
    let mut day = "";
    for entry in &transcript.timeline {
        // The date once, then again only when it changes.
        let time = if entry.at.day() == day {
            entry.at.clock()
        } else {
            day = entry.at.day();
            entry.at.utc()
        };
        let by = transcript
            .who(entry.person.as_deref(), entry.os_user.as_deref())
            .map(|who| text(&who))
            .unwrap_or_default();
        let _ = writeln!(md, "| {time} | {} | {by} |", said(transcript, entry));
    }
    md.push('\n');
}

/// An entry's text, with a command shown as code and numbered as in its section.
fn said(transcript: &Transcript, entry: &Entry) -> String {
    match entry.about {
        About::CommandStarted { command } => match transcript.commands.get(command) {
            Some(ran) => format!(
                "#{}{}: {}",
                command + 1,
                on(ran),
                cell_code(&shortened(&ran.command))
            ),
            None => text(&entry.text),
        },
        About::CommandFinished { command } => {
            let bad = transcript
                .commands
                .get(command)
                .is_some_and(|ran| !ran.succeeded());
            let said = format!("#{}: {}", command + 1, text(&entry.text));
            if bad {
                format!("**{said}**")
            } else {
                said
            }
        }
        _ => text(&entry.text),
    }
}

fn answers(md: &mut String, transcript: &Transcript) {
    let _ = writeln!(md, "## Answers\n");
    if transcript.answers.is_empty() {
        let _ = writeln!(
            md,
            "Nobody voted, confirmed, decided or cut a pause short.\n"
        );
        return;
    }
    let _ = writeln!(
        md,
        "Roles are those the roster gave each person when the run started.\n\n| Time (UTC) | Person | Roles | Answer | About | Reason | Taken |\n|---|---|---|---|---|---|---|"
    );
    for answer in &transcript.answers {
        let person = match (&answer.person, &answer.name) {
            (Some(login), Some(name)) => format!("{login} ({name})"),
            (Some(login), None) => login.clone(),
            (None, _) => String::new(),
        };
        let person = match &answer.os_user {
            Some(user) => format!("{person}, OS user {user}"),
            None => person,
        };
        let mut said = answer.answer.clone();
        if let Some(role) = &answer.role {
            let _ = write!(said, " as {role}");
        }
        if let Some(decision) = answer.decision {
            let _ = write!(said, " {}", format!("{decision:?}").to_lowercase());
        }
        if !answer.values.is_empty() {
            let values: Vec<String> = answer
                .values
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            let _ = write!(said, ": {}", values.join(", "));
        }
        let taken = match &answer.refused {
            Some(why) => format!("**REFUSED**: {}", text(why)),
            None => "yes".to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {taken} |",
            answer.at.utc(),
            text(&person),
            text(&answer.roles.join(", ")),
            text(&said),
            text(&answer.about),
            text(answer.reason.as_deref().unwrap_or_default()),
        );
    }
    md.push('\n');
}

fn commands(md: &mut String, transcript: &Transcript) {
    let _ = writeln!(md, "## Commands\n");
    if transcript.commands.is_empty() {
        let _ = writeln!(md, "No command ran.\n");
        return;
    }
    let _ = writeln!(
        md,
        "Secrets were redacted before anything was logged. Each output shows at most its first {OUTPUT_LINES} lines, and counts the rest; the run's folder holds every output whole.\n"
    );
    for (number, ran) in transcript.commands.iter().enumerate() {
        let _ = writeln!(md, "### #{}: {}{}\n", number + 1, text(&ran.unit), on(ran));
        let ended = match ran.duration_ms {
            Some(duration) => format!("{} after {}", ran.ended_text(), seconds(duration)),
            None => ran.ended_text(),
        };
        let ended = if ran.succeeded() {
            ended
        } else {
            format!("**{ended}**")
        };
        let _ = writeln!(
            md,
            "- {}: {} {}, attempt {}, started {} UTC: {ended}",
            text(&ran.node),
            phase_word(ran),
            ran.number,
            ran.attempt,
            ran.started.utc(),
        );
        if let Some(file) = &ran.full_output {
            let _ = writeln!(md, "- whole output: {} in the run's folder", code(file));
        }
        let _ = writeln!(md, "\n{}", fenced(&ran.command, "sh"));
        let collapsed = ran.collapsed(OUTPUT_LINES);
        if collapsed.shown.is_empty() {
            continue;
        }
        let shown: Vec<&str> = collapsed.shown.iter().map(|(_, line)| *line).collect();
        let _ = writeln!(md, "{}", fenced(&shown.join("\n"), "text"));
        if collapsed.hidden > 0 {
            let _ = writeln!(md, "… {} more lines in the log.\n", collapsed.hidden);
        }
    }
}

fn evaluations(md: &mut String, transcript: &Transcript) {
    let _ = writeln!(md, "## Probe values behind each decision\n");
    if transcript.evaluations.is_empty() {
        let _ = writeln!(md, "No condition was evaluated and no baseline read.\n");
        return;
    }
    let _ = writeln!(
        md,
        "| Time (UTC) | Of | Condition | Values | Verdict |\n|---|---|---|---|---|"
    );
    for evaluation in &transcript.evaluations {
        let condition = match (evaluation.kind, &evaluation.condition) {
            (EvaluationKind::Condition, Some(condition)) => cell_code(condition),
            _ => "baseline".to_string(),
        };
        let verdict = evaluation.verdict();
        let verdict = if evaluation.holds == Some(false) || evaluation.error.is_some() {
            format!("**{}**", text(&verdict))
        } else {
            text(&verdict)
        };
        let _ = writeln!(
            md,
            "| {} | {} | {condition} | {} | {verdict} |",
            evaluation.at.utc(),
            text(&evaluation.of),
            text(&evaluation.values_text()),
        );
    }
    md.push('\n');
}

fn objectives(md: &mut String, transcript: &Transcript) {
    let _ = writeln!(md, "## Objectives\n");
    if transcript.objectives.is_empty() {
        let _ = writeln!(
            md,
            "No objective was decided: the runbook sets none, or no failure started their clocks.\n"
        );
        return;
    }
    let _ = writeln!(
        md,
        "| Objective | Limit | Result | Decided at (UTC) |\n|---|---|---|---|"
    );
    for objective in &transcript.objectives {
        let result = if objective.met {
            objective.result()
        } else {
            format!("**{}**", objective.result())
        };
        let _ = writeln!(
            md,
            "| {} | {} | {result} | {} |",
            text(&objective.objective),
            objective.limit(),
            objective.at.utc()
        );
    }
    md.push('\n');
}

fn notices(md: &mut String, transcript: &Transcript) {
    let _ = writeln!(md, "## Notices\n");
    if transcript.notices.is_empty() {
        let _ = writeln!(md, "No notice was sent.\n");
        return;
    }
    let _ = writeln!(
        md,
        "| Time (UTC) | To | Channel | Message | Delivery |\n|---|---|---|---|---|"
    );
    for notice in &transcript.notices {
        let outcome = if notice.delivered() {
            text(&notice.outcome())
        } else {
            format!("**{}**", text(&notice.outcome()))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {outcome} |",
            notice.at.utc(),
            text(&notice.audience),
            text(notice.channel.as_deref().unwrap_or("log")),
            text(&notice.message),
        );
    }
    md.push('\n');
}

fn postmortem(md: &mut String, transcript: &Transcript) {
    let postmortem = &transcript.postmortem;
    let _ = writeln!(
        md,
        "## Post-mortem ({TO_FILL_IN})\n\n> **{}.** Nothing below is a conclusion: the prompts come from the log, the answers are yours to write.\n",
        capitalised(TO_FILL_IN)
    );
    let _ = writeln!(md, "### What failed\n");
    if postmortem.failures.is_empty() {
        let _ = writeln!(md, "The log has no failure.\n");
    } else {
        for failure in &postmortem.failures {
            let _ = writeln!(md, "- {} UTC: {}", failure.at.utc(), text(&failure.text()));
        }
        md.push('\n');
    }
    part(md, "Root cause", &postmortem.root_cause);
    let _ = writeln!(
        md,
        "### Corrective actions\n\n_{}_\n\n| Action | Owner | Due |\n|---|---|---|",
        capitalised(TO_FILL_IN)
    );
    for action in &postmortem.corrective_actions {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            text(&action.action),
            text(&action.owner),
            text(&action.due)
        );
    }
    md.push('\n');
    part(md, "What went well", &postmortem.went_well);
    part(md, "What went badly", &postmortem.went_badly);
}

fn part(md: &mut String, title: &str, part: &Part) {
    let _ = writeln!(md, "### {title}\n\n_{}_\n", capitalised(TO_FILL_IN));
    if !part.prompts.is_empty() {
        let _ = writeln!(md, "Prompts from the log:\n");
        for prompt in &part.prompts {
            let _ = writeln!(md, "- {}", text(prompt));
        }
        md.push('\n');
    }
}

fn capitalised(words: &str) -> String {
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn on(ran: &Command) -> String {
    ran.host
        .as_deref()
        .map(|host| format!(" on {}", text(host)))
        .unwrap_or_default()
}

fn phase_word(ran: &Command) -> &'static str {
    use crate::engine::facts::Phase;
    match ran.phase {
        Phase::Run => "command",
        Phase::Verify => "verification",
        Phase::Remedy => "remedy",
        Phase::Rollback => "rollback command",
    }
}

/// A command's first line, cut to `COMMAND_CHARS`.
fn shortened(command: &str) -> String {
    let first = command.lines().next().unwrap_or_default();
    let mut cut: String = first.chars().take(COMMAND_CHARS).collect();
    if cut.len() < command.len() {
        cut.push('…');
    }
    cut
}

/// Text that reads as itself in Markdown prose, list items and table cells: every
/// character Markdown (or the HTML it allows) gives a meaning is escaped, line breaks
/// become `<br>`, and invisible characters are shown as `\u{...}`.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut digits_only = true;
    for (at, c) in value.chars().enumerate() {
        match c {
            '\n' => out.push_str("<br>"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // At the start, these would make a list, a heading or a rule.
            '-' | '+' | '#' | '=' if at == 0 => {
                out.push('\\');
                out.push(c);
            }
            // `1.` or `1)` at the start would make a numbered list.
            '.' | ')' if digits_only && at > 0 => {
                out.push('\\');
                out.push(c);
            }
            c if shown_escaped(c) => {
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
        digits_only &= c.is_ascii_digit();
    }
    out
}

/// Inline code outside a table: a run of backticks longer than any inside it.
fn code(value: &str) -> String {
    let one_line: String = value
        .chars()
        .map(|c| match c {
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    if one_line.trim().is_empty() {
        return text(value);
    }
    let ticks = "`".repeat(longest_run(&one_line, '`') + 1);
    let pad = if one_line.starts_with('`') || one_line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{}{pad}{ticks}", visible(&one_line))
}

/// Inline code in a table cell, where a `|` would end the cell even inside code.
fn cell_code(value: &str) -> String {
    code(value).replace('|', "\\|")
}

/// A fenced block holding `body` as it is: its fence is longer than any run of
/// backticks in it.
fn fenced(body: &str, info: &str) -> String {
    let fence = "`".repeat((longest_run(body, '`') + 1).max(3));
    format!("{fence}{info}\n{}\n{fence}\n", visible(body))
}

/// Invisible characters as `\u{...}`, the rest as it is: for code, where escapes of
/// Markdown would show.
fn visible(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if shown_escaped(c) && c != '\n' && c != '\t' {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn longest_run(value: &str, of: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in value.chars() {
        run = if c == of { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transcript::model::sealed::log;

    #[test]
    fn text_from_the_log_cannot_format_or_break_the_page() {
        assert_eq!(
            text("<script>alert(1)</script> & *bold* | x"),
            "\\<script\\>alert(1)\\</script\\> \\& \\*bold\\* \\| x"
        );
        assert_eq!(text("- item"), "\\- item");
        assert_eq!(text("1. first"), "1\\. first");
        assert_eq!(text("a-b 1.5"), "a-b 1.5");
        assert_eq!(text("two\nlines"), "two<br>lines");
        assert_eq!(text("a\u{202e}b"), "a\\\\u{202e}b");
    }

    #[test]
    fn code_takes_a_fence_longer_than_any_inside() {
        assert_eq!(code("ls"), "`ls`");
        assert_eq!(code("a `b` c"), "``a `b` c``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(cell_code("a | b"), "`a \\| b`");
        assert_eq!(fenced("echo ```", "sh"), "````sh\necho ```\n````\n");
        assert_eq!(fenced("plain", ""), "```\nplain\n```\n");
    }

    #[test]
    fn a_long_output_shows_its_first_lines_and_counts_the_rest() {
        let lines: String = (1..=25).map(|n| format!("line {n}\n")).collect();
        let transcript = Transcript::from_events(&log(&[
            (
                0,
                "command_started",
                json!({"unit": "s", "phase": "run", "index": 0, "attempt": 1, "command": "seq 25"}),
                None,
            ),
            (
                1,
                "output",
                json!({"unit": "s", "stream": "stdout", "text": lines}),
                None,
            ),
            (
                2,
                "command_finished",
                json!({"unit": "s", "phase": "run", "index": 0, "attempt": 1,
                       "exit": {"code": 0}, "duration_ms": 1}),
                None,
            ),
        ]));
        let md = render(&transcript);
        assert!(md.contains("line 20\n```\n"), "{md}");
        assert!(!md.contains("line 21"), "{md}");
        assert!(md.contains("… 5 more lines in the log."), "{md}");
    }
}
