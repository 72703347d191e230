//! The structure of a transcript, written once for every format with markup (Markdown
//! and HTML): the header, the key moments, the full timeline, then a section per kind
//! of thing an auditor checks, the runbook's source and what the transcript rests on.
//! What each piece looks like is the `Markup`'s.

use super::markup::{Cell, Look, Markup, Region, Table};
use super::model::{
    elapsed, seconds, About, Answer, At, Command, Entry, Evaluation, EvaluationKind, Header, Part,
    RunState, Transcript, TO_FILL_IN,
};

/// Writes `transcript` into `markup`, from its title to its footer.
pub fn write(transcript: &Transcript, markup: &mut impl Markup) {
    let title = match &transcript.header {
        Some(header) => format!(
            "{}Run {}: {}",
            drill_mark(header),
            header.run,
            header.title.as_deref().unwrap_or(&header.runbook)
        ),
        None => "Transcript".to_string(),
    };
    markup.begin_document(&title);
    header(markup, transcript);
    key_moments(markup, transcript);
    timeline(markup, transcript);
    answers(markup, transcript);
    commands(markup, transcript);
    evaluations(markup, transcript);
    objectives(markup, transcript);
    notices(markup, transcript);
    postmortem(markup, transcript);
    if let Some(header) = &transcript.header {
        let source = Region::Section {
            id: "source",
            title: "Runbook source",
        };
        markup.open(&source);
        let summary = format!(
            "The runbook as the run started (sha256 {})",
            markup.code(&header.source_sha256)
        );
        markup.folded_code(&summary, &header.source);
        markup.close(&source);
    }
    if let Some(chain) = &transcript.chain {
        let rests_on = format!(
            "{} events from {} to {}; the chain verifies (last hash {}).",
            chain.events,
            markup.plain(&chain.first.time),
            markup.plain(&chain.last.time),
            markup.code(&chain.last_hash)
        );
        markup.footer(&rests_on);
    }
    markup.end_document();
}

/// `Drill: ` before a drill's name: a rehearsal must never be read as a change.
fn drill_mark(header: &Header) -> &'static str {
    if header.drill.is_some() {
        "Drill: "
    } else {
        ""
    }
}

fn header(markup: &mut impl Markup, transcript: &Transcript) {
    let Some(header) = &transcript.header else {
        markup.heading(1, "Transcript");
        markup.paragraph(
            Look::Plain,
            "The log does not start with a run: it has no header.",
        );
        return;
    };
    markup.open(&Region::Header);
    let named = header.title.as_deref().unwrap_or(&header.runbook);
    markup.heading(1, &format!("{}{}", drill_mark(header), markup.text(named)));
    markup.table(&Table::Facts);
    let runbook = format!(
        "{}{} ({})",
        markup.code(&header.runbook),
        header
            .title
            .as_deref()
            .map(|title| format!(": {}", markup.text(title)))
            .unwrap_or_default(),
        markup.code(&header.file)
    );
    markup.row(None, &fact("Runbook", runbook));
    markup.row(None, &fact("Run", markup.code(&header.run)));
    let by = transcript
        .who(header.person.as_deref(), header.os_user.as_deref())
        .unwrap_or_else(|| header.started_by.clone());
    markup.row(None, &fact("Started by", markup.text(&by)));
    markup.row(None, &fact("Machine", markup.text(&header.machine)));
    let version = format!("sha256 {}", markup.code(&header.source_sha256));
    markup.row(None, &fact("Runbook version", version));
    for edit in &header.accepted_edits {
        let accepted = format!(
            "{} UTC: sha256 {}{}",
            markup.plain(&edit.at.utc()),
            markup.code(&edit.source_sha256),
            transcript
                .who(edit.person.as_deref(), edit.os_user.as_deref())
                .map(|who| format!(", by {}", markup.text(&who)))
                .unwrap_or_default()
        );
        markup.row(None, &fact("Edit accepted", accepted));
    }
    let started = format!("{} UTC", markup.plain(&header.started.utc()));
    markup.row(None, &fact("Started", started));
    let status = markup.status(header.status == RunState::Completed, header.status.words());
    markup.row(None, &fact("Status", status));
    if let Some(drill) = &header.drill {
        let drill = format!(
            "{}: {}",
            markup.drill_yes(),
            markup.text(&super::drill_words(drill))
        );
        markup.row(None, &fact("Drill", drill));
    }
    let engine = markup.text(&format!("runbook {}", header.engine_version));
    markup.row(None, &fact("Engine", engine));
    markup.end_table();
    if !header.params.is_empty() {
        let parameters = Table::Captioned {
            caption: "Parameters",
            columns: &["Name", "Value"],
        };
        table(
            markup,
            parameters,
            &header.params,
            |markup, (name, value)| {
                vec![Cell::new(markup.text(name)), Cell::new(markup.code(value))]
            },
        );
    }
    if !header.inventories.is_empty() {
        let hosts = Table::Captioned {
            caption: "Hosts",
            columns: &["Inventory", "Hosts"],
        };
        table(
            markup,
            hosts,
            &header.inventories,
            |markup, (name, hosts)| {
                vec![
                    Cell::new(markup.text(name)),
                    Cell::new(markup.text(&hosts.join(", "))),
                ]
            },
        );
    }
    if !header.people.is_empty() {
        let people = Table::Captioned {
            caption: "People, as the roster stood when the run started",
            columns: &["Login", "Name", "Roles"],
        };
        table(markup, people, &header.people, |markup, person| {
            vec![
                Cell::new(markup.text(&person.login)),
                Cell::new(markup.text(person.name.as_deref().unwrap_or_default())),
                Cell::new(markup.text(&person.roles.join(", "))),
            ]
        });
    }
    markup.close(&Region::Header);
}

fn key_moments(markup: &mut impl Markup, transcript: &Transcript) {
    let region = Region::Section {
        id: "key-moments",
        title: "Key moments",
    };
    markup.open(&region);
    let columns = [
        "Moment",
        "Time (UTC)",
        "Since start",
        "Since first failure",
        "What",
    ];
    table(
        markup,
        Table::Columns(&columns),
        &transcript.key_moments,
        |markup, moment| {
            let time = |text: Option<String>| {
                Cell::looking(
                    Look::Time,
                    markup.plain(&text.unwrap_or_else(|| "—".into())),
                )
            };
            vec![
                Cell::row_head(moment.moment.label().to_string()),
                time(moment.at.as_ref().map(At::utc)),
                time(moment.since_start_ms.map(elapsed)),
                time(moment.since_failure_ms.map(elapsed)),
                Cell::new(markup.text(&moment.detail)),
            ]
        },
    );
    markup.close(&region);
}

fn timeline(markup: &mut impl Markup, transcript: &Transcript) {
    let region = Region::Section {
        id: "timeline",
        title: "Timeline",
    };
    markup.open(&region);
    markup.table(&Table::Columns(&["Time (UTC)", "What happened", "By"]));
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
            .map(|who| markup.text(&who))
            .unwrap_or_default();
        markup.row(
            Some(&format!("event-{}", entry.seq)),
            &[
                Cell::looking(Look::Time, markup.plain(&time)),
                Cell::looking(Look::Lines, said(markup, transcript, entry)),
                Cell::new(by),
            ],
        );
    }
    markup.end_table();
    markup.close(&region);
}

/// An entry's text, a command's numbered as in its section.
fn said(markup: &impl Markup, transcript: &Transcript, entry: &Entry) -> String {
    match entry.about {
        About::CommandStarted { command } => match transcript.commands.get(command) {
            Some(ran) => format!(
                "{}{}: {}",
                markup.command_reference(command + 1),
                on(markup, ran),
                markup.command_excerpt(&ran.command)
            ),
            None => markup.text(&entry.text),
        },
        About::CommandFinished { command } => {
            let failed = transcript
                .commands
                .get(command)
                .is_some_and(|ran| !ran.succeeded());
            markup.command_ended(command + 1, &markup.text(&entry.text), failed)
        }
        _ => markup.text(&entry.text),
    }
}

/// A section: `none` when it has no item, else what `body` writes of its items.
fn section<M: Markup, T>(
    markup: &mut M,
    region: Region,
    items: &[T],
    none: &str,
    body: impl FnOnce(&mut M, &[T]),
) {
    markup.open(&region);
    if items.is_empty() {
        markup.paragraph(Look::Plain, none);
    } else {
        body(markup, items);
    }
    markup.close(&region);
}

/// A table with a row per item.
fn table<M: Markup, T>(
    markup: &mut M,
    table: Table,
    items: impl IntoIterator<Item = T>,
    row: impl Fn(&M, T) -> Vec<Cell>,
) {
    markup.table(&table);
    for item in items {
        let cells = row(markup, item);
        markup.row(None, &cells);
    }
    markup.end_table();
}

fn answers(markup: &mut impl Markup, transcript: &Transcript) {
    let region = Region::Section {
        id: "answers",
        title: "Answers",
    };
    let none = "Nobody voted, confirmed, decided or cut a pause short.";
    section(
        markup,
        region,
        &transcript.answers,
        none,
        |markup, answers| {
            markup.paragraph(
                Look::Plain,
                "Roles are those the roster gave each person when the run started.",
            );
            let columns = [
                "Time (UTC)",
                "Person",
                "Roles",
                "Answer",
                "About",
                "Reason",
                "Taken",
            ];
            table(markup, Table::Columns(&columns), answers, answer_row);
        },
    );
}

fn answer_row(markup: &impl Markup, answer: &Answer) -> Vec<Cell> {
    let mut person = match (&answer.person, &answer.name) {
        (Some(login), Some(name)) => format!("{login} ({name})"),
        (Some(login), None) => login.clone(),
        (None, _) => String::new(),
    };
    if let Some(user) = &answer.os_user {
        person = format!("{person}, OS user {user}");
    }
    let mut said = answer.answer.clone();
    if let Some(role) = &answer.role {
        said = format!("{said} as {role}");
    }
    if let Some(decision) = answer.decision {
        said = format!("{said} {}", format!("{decision:?}").to_lowercase());
    }
    said.push_str(&markup.entered_values(&answer.values));
    let taken = match &answer.refused {
        Some(why) => format!("{}: {}", markup.outcome(false, "REFUSED"), markup.text(why)),
        None => "yes".to_string(),
    };
    vec![
        Cell::looking(Look::Time, markup.plain(&answer.at.utc())),
        Cell::new(markup.text(&person)),
        Cell::new(markup.text(&answer.roles.join(", "))),
        Cell::looking(Look::Lines, markup.text(&said)),
        Cell::new(markup.text(&answer.about)),
        Cell::looking(
            Look::Lines,
            markup.text(answer.reason.as_deref().unwrap_or_default()),
        ),
        Cell::new(taken),
    ]
}

fn commands(markup: &mut impl Markup, transcript: &Transcript) {
    let region = Region::Section {
        id: "commands",
        title: "Commands",
    };
    section(
        markup,
        region,
        &transcript.commands,
        "No command ran.",
        |markup, commands| {
            let redacted = format!(
                "Secrets were redacted before anything was logged. {}",
                markup.outputs_shown()
            );
            markup.paragraph(Look::Plain, &redacted);
            for (index, ran) in commands.iter().enumerate() {
                command(markup, index + 1, ran);
            }
        },
    );
}

/// A command in its own part: where and how it ran, how it ended, what it printed.
fn command(markup: &mut impl Markup, number: usize, ran: &Command) {
    let region = Region::Command { number };
    markup.open(&region);
    let title = format!("#{number}: {}{}", markup.text(&ran.unit), on(markup, ran));
    markup.heading(3, &title);
    let ended = match ran.duration_ms {
        Some(duration) => format!("{} after {}", ran.ended_text(), seconds(duration)),
        None => ran.ended_text(),
    };
    let summary = format!(
        "{}: {} {}, attempt {}, started {} UTC: {}",
        markup.text(&ran.node),
        phase_word(ran),
        ran.number,
        ran.attempt,
        markup.plain(&ran.started.utc()),
        markup.outcome(ran.succeeded(), &markup.plain(&ended))
    );
    markup.command_summary(&summary, ran.full_output.as_deref());
    markup.code_block(&ran.command, "sh");
    markup.output(ran);
    markup.close(&region);
}

fn evaluations(markup: &mut impl Markup, transcript: &Transcript) {
    let region = Region::Section {
        id: "evaluations",
        title: "Probe values behind each decision",
    };
    let none = "No condition was evaluated and no baseline read.";
    section(
        markup,
        region,
        &transcript.evaluations,
        none,
        |markup, evaluations| {
            let columns = ["Time (UTC)", "Of", "Condition", "Values", "Verdict"];
            table(
                markup,
                Table::Columns(&columns),
                evaluations,
                evaluation_row,
            );
        },
    );
}

fn evaluation_row(markup: &impl Markup, evaluation: &Evaluation) -> Vec<Cell> {
    let condition = match (evaluation.kind, &evaluation.condition) {
        (EvaluationKind::Condition, Some(condition)) => markup.code(condition),
        _ => "baseline".to_string(),
    };
    let verdict = match (evaluation.holds, &evaluation.error) {
        (Some(false), _) | (_, Some(_)) => Look::Bad,
        (Some(true), _) => Look::Good,
        _ => Look::Muted,
    };
    vec![
        Cell::looking(Look::Time, markup.plain(&evaluation.at.utc())),
        Cell::new(markup.text(&evaluation.of)),
        Cell::new(condition),
        Cell::new(markup.text(&evaluation.values_text())),
        Cell::looking(verdict, markup.text(&evaluation.verdict())),
    ]
}

fn objectives(markup: &mut impl Markup, transcript: &Transcript) {
    let region = Region::Section {
        id: "objectives",
        title: "Objectives",
    };
    let none =
        "No objective was decided: the runbook sets none, or no failure started their clocks.";
    section(
        markup,
        region,
        &transcript.objectives,
        none,
        |markup, objectives| {
            let columns = ["Objective", "Limit", "Result", "Decided at (UTC)"];
            table(
                markup,
                Table::Columns(&columns),
                objectives,
                |markup, objective| {
                    vec![
                        Cell::new(markup.text(&objective.objective)),
                        Cell::new(markup.plain(&objective.limit())),
                        Cell::looking(
                            good_or_bad(objective.met),
                            markup.plain(&objective.result()),
                        ),
                        Cell::looking(Look::Time, markup.plain(&objective.at.utc())),
                    ]
                },
            );
        },
    );
}

fn notices(markup: &mut impl Markup, transcript: &Transcript) {
    let region = Region::Section {
        id: "notices",
        title: "Notices",
    };
    section(
        markup,
        region,
        &transcript.notices,
        "No notice was sent.",
        |markup, notices| {
            let columns = ["Time (UTC)", "To", "Channel", "Message", "Delivery"];
            table(
                markup,
                Table::Columns(&columns),
                notices,
                |markup, notice| {
                    vec![
                        Cell::looking(Look::Time, markup.plain(&notice.at.utc())),
                        Cell::new(markup.text(&notice.audience)),
                        Cell::new(markup.text(notice.channel.as_deref().unwrap_or("log"))),
                        Cell::looking(Look::Lines, markup.text(&notice.message)),
                        Cell::looking(
                            good_or_bad(notice.delivered()),
                            markup.text(&notice.outcome()),
                        ),
                    ]
                },
            );
        },
    );
}

fn postmortem(markup: &mut impl Markup, transcript: &Transcript) {
    let postmortem = &transcript.postmortem;
    let title = format!("Post-mortem ({TO_FILL_IN})");
    let region = Region::Section {
        id: "postmortem",
        title: &title,
    };
    markup.open(&region);
    let banner = format!(
        "{} Nothing below is a conclusion: the prompts come from the log, the answers are yours to write.",
        markup.strong(&format!("{}.", capitalised(TO_FILL_IN)))
    );
    markup.banner(&banner);
    markup.heading(3, "What failed");
    if postmortem.failures.is_empty() {
        markup.paragraph(Look::Plain, "The log has no failure.");
    } else {
        let failures: Vec<String> = postmortem
            .failures
            .iter()
            .map(|failure| {
                format!(
                    "{} UTC: {}",
                    markup.plain(&failure.at.utc()),
                    markup.text(&failure.text())
                )
            })
            .collect();
        markup.list(Look::Plain, &failures);
    }
    part(markup, "Root cause", &postmortem.root_cause);
    markup.heading(3, "Corrective actions");
    markup.to_fill_in(&capitalised(TO_FILL_IN));
    let columns = ["Action", "Owner", "Due"];
    table(
        markup,
        Table::Columns(&columns),
        &postmortem.corrective_actions,
        |markup, action| {
            [&action.action, &action.owner, &action.due]
                .map(|value| Cell::new(filled(markup, value)))
                .into()
        },
    );
    part(markup, "What went well", &postmortem.went_well);
    part(markup, "What went badly", &postmortem.went_badly);
    markup.close(&region);
}

/// A part of the post-mortem: its heading, the prompts the log gives, and the space
/// its answer is written in.
fn part(markup: &mut impl Markup, title: &str, part: &Part) {
    markup.heading(3, title);
    markup.to_fill_in(&capitalised(TO_FILL_IN));
    if !part.prompts.is_empty() {
        markup.paragraph(Look::Muted, "Prompts from the log:");
        let prompts: Vec<String> = part
            .prompts
            .iter()
            .map(|prompt| markup.text(prompt))
            .collect();
        markup.list(Look::Muted, &prompts);
    }
    markup.writing_space(&filled(markup, &part.text));
}

/// What people wrote, or the mark that it is still to be written.
fn filled(markup: &impl Markup, value: &str) -> String {
    if value.is_empty() {
        markup.blank()
    } else {
        markup.text(value)
    }
}

fn good_or_bad(good: bool) -> Look {
    if good {
        Look::Good
    } else {
        Look::Bad
    }
}

fn capitalised(words: &str) -> String {
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// ` on HOST`, after a command's number or unit.
fn on(markup: &impl Markup, ran: &Command) -> String {
    ran.host
        .as_deref()
        .map(|host| format!(" on {}", markup.text(host)))
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

/// A row of the header's facts: its name, then its value.
fn fact(name: &str, value: String) -> [Cell; 2] {
    [Cell::row_head(name.to_string()), Cell::new(value)]
}

#[cfg(test)]
mod tests {
    use super::super::{html, markdown};
    use super::*;

    #[test]
    fn a_log_without_a_run_says_so_in_both_formats() {
        let transcript = Transcript::from_events(&[]);
        let md = markdown::render(&transcript);
        assert!(
            md.starts_with(
                "# Transcript\n\nThe log does not start with a run: it has no header.\n\n## Key moments\n\n"
            ),
            "{md}"
        );
        let html = html::render(&transcript);
        assert!(html.contains("<title>Transcript</title>"), "{html}");
        assert!(
            html.contains(
                "<body>\n<h1>Transcript</h1>\n<p>The log does not start with a run: it has no header.</p>\n<section id=\"key-moments\">\n"
            ),
            "{html}"
        );
        assert!(html.ends_with("</section>\n</body>\n</html>\n"), "{html}");
    }
}
