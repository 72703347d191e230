//! The HTML format: one self-contained page, readable on screen and on paper. Its
//! style is inline and it has no script at all; a Content-Security-Policy forbids
//! every script and every external file, so even a mistake in escaping could not run
//! anything. Each command's output is in a `<details>` element, opened when printed.
//! Every piece of text from the log is escaped.

use std::fmt::Write as _;

use super::model::{
    elapsed, seconds, About, At, Command, Entry, EvaluationKind, Part, Transcript, TO_FILL_IN,
};
use crate::ast::shown_escaped;

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; max-width: 80rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #c8c8c8; margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d4d4d4; padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th, table.facts th { background: #f2f2f2; }
table.facts { width: auto; }
caption { text-align: left; font-weight: 600; padding: .4rem 0 .2rem; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .5rem .6rem; white-space: pre-wrap; overflow-wrap: anywhere; margin: .3rem 0; }
.lines { white-space: pre-wrap; overflow-wrap: anywhere; }
.bad { color: #a30000; font-weight: 600; }
.good { color: #1d5e00; }
.muted { color: #666; }
.stderr { color: #a30000; }
.note { font-style: italic; color: #555; }
.fill { border: 2px dashed #8a8a8a; padding: .6rem .9rem; margin: .5rem 0 1rem; min-height: 3rem; }
.banner { border-left: 4px solid #b58900; background: #fff8e1; padding: .5rem .8rem; }
details > summary { cursor: pointer; color: #333; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 9.5pt; color: #000; }
  thead th, table.facts th, pre, .banner { background: none; }
  a { color: inherit; text-decoration: none; }
  tr, .command > p { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  details::details-content { content-visibility: visible; display: block; }
  details > summary { list-style: none; }
}
"#;

pub fn render(transcript: &Transcript) -> String {
    let mut html = String::new();
    let title = match &transcript.header {
        Some(header) => format!(
            "{}Run {}: {}",
            drill_mark(header),
            header.run,
            header.title.as_deref().unwrap_or(&header.runbook)
        ),
        None => "Transcript".to_string(),
    };
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    header(&mut html, transcript);
    key_moments(&mut html, transcript);
    timeline(&mut html, transcript);
    answers(&mut html, transcript);
    commands(&mut html, transcript);
    evaluations(&mut html, transcript);
    objectives(&mut html, transcript);
    notices(&mut html, transcript);
    postmortem(&mut html, transcript);
    if let Some(header) = &transcript.header {
        let _ = writeln!(
            html,
            "<section id=\"source\">\n<h2>Runbook source</h2>\n<details><summary>The runbook as the run started (sha256 <code>{}</code>)</summary><pre>{}</pre></details>\n</section>",
            escape(&header.source_sha256),
            escape(&header.source)
        );
    }
    if let Some(chain) = &transcript.chain {
        let _ = writeln!(
            html,
            "<footer><p class=\"muted\">{} events from {} to {}; the chain verifies (last hash <code>{}</code>).</p></footer>",
            chain.events,
            escape(&chain.first.time),
            escape(&chain.last.time),
            escape(&chain.last_hash)
        );
    }
    html.push_str("</body>\n</html>\n");
    html
}

fn header(html: &mut String, transcript: &Transcript) {
    let Some(header) = &transcript.header else {
        html.push_str(
            "<h1>Transcript</h1>\n<p>The log does not start with a run: it has no header.</p>\n",
        );
        return;
    };
    let _ = writeln!(
        html,
        "<header>\n<h1>{}{}</h1>",
        drill_mark(header),
        escape(header.title.as_deref().unwrap_or(&header.runbook))
    );
    html.push_str("<table class=\"facts\">\n");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(
            html,
            "<tr><th scope=\"row\">{name}</th><td>{value}</td></tr>"
        );
    };
    row(
        "Runbook",
        format!(
            "<code>{}</code>{} (<code>{}</code>)",
            escape(&header.runbook),
            header
                .title
                .as_deref()
                .map(|title| format!(": {}", escape(title)))
                .unwrap_or_default(),
            escape(&header.file)
        ),
    );
    row("Run", format!("<code>{}</code>", escape(&header.run)));
    let by = transcript
        .who(header.person.as_deref(), header.os_user.as_deref())
        .unwrap_or_else(|| header.started_by.clone());
    row("Started by", escape(&by));
    row("Machine", escape(&header.machine));
    row(
        "Runbook version",
        format!("sha256 <code>{}</code>", escape(&header.source_sha256)),
    );
    for edit in &header.accepted_edits {
        row(
            "Edit accepted",
            format!(
                "{} UTC: sha256 <code>{}</code>{}",
                escape(&edit.at.utc()),
                escape(&edit.source_sha256),
                transcript
                    .who(edit.person.as_deref(), edit.os_user.as_deref())
                    .map(|who| format!(", by {}", escape(&who)))
                    .unwrap_or_default()
            ),
        );
    }
    row("Started", format!("{} UTC", escape(&header.started.utc())));
    let status = header.status.words();
    let class = match header.status {
        super::model::RunState::Completed => "good",
        _ => "bad",
    };
    row("Status", format!("<span class=\"{class}\">{status}</span>"));
    if let Some(drill) = &header.drill {
        row(
            "Drill",
            format!(
                "<strong>yes</strong>: {}",
                escape(&super::drill_words(drill))
            ),
        );
    }
    row(
        "Engine",
        format!("runbook {}", escape(&header.engine_version)),
    );
    html.push_str("</table>\n");
    if !header.params.is_empty() {
        table_head(html, "Parameters", &["Name", "Value"]);
        for (name, value) in &header.params {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td><code>{}</code></td></tr>",
                escape(name),
                escape(value)
            );
        }
        html.push_str("</tbody></table>\n");
    }
    if !header.inventories.is_empty() {
        table_head(html, "Hosts", &["Inventory", "Hosts"]);
        for (name, hosts) in &header.inventories {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(name),
                escape(&hosts.join(", "))
            );
        }
        html.push_str("</tbody></table>\n");
    }
    if !header.people.is_empty() {
        table_head(
            html,
            "People, as the roster stood when the run started",
            &["Login", "Name", "Roles"],
        );
        for person in &header.people {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&person.login),
                escape(person.name.as_deref().unwrap_or_default()),
                escape(&person.roles.join(", "))
            );
        }
        html.push_str("</tbody></table>\n");
    }
    html.push_str("</header>\n");
}

/// `Drill: ` before a drill's name: a rehearsal must never be read as a change.
fn drill_mark(header: &super::model::Header) -> &'static str {
    if header.drill.is_some() {
        "Drill: "
    } else {
        ""
    }
}

/// A table with a caption above it and its head; the caller writes the rows and closes
/// `</tbody></table>`.
fn table_head(html: &mut String, caption: &str, columns: &[&str]) {
    let _ = write!(
        html,
        "<table>\n<caption>{}</caption>\n<thead><tr>",
        escape(caption)
    );
    for column in columns {
        let _ = write!(html, "<th scope=\"col\">{column}</th>");
    }
    html.push_str("</tr></thead>\n<tbody>\n");
}

fn key_moments(html: &mut String, transcript: &Transcript) {
    html.push_str("<section id=\"key-moments\">\n<h2>Key moments</h2>\n<table>\n<thead><tr><th scope=\"col\">Moment</th><th scope=\"col\">Time (UTC)</th><th scope=\"col\">Since start</th><th scope=\"col\">Since first failure</th><th scope=\"col\">What</th></tr></thead>\n<tbody>\n");
    for moment in &transcript.key_moments {
        let _ = writeln!(
            html,
            "<tr><th scope=\"row\">{}</th><td class=\"time\">{}</td><td class=\"time\">{}</td><td class=\"time\">{}</td><td>{}</td></tr>",
            moment.moment.label(),
            escape(&moment.at.as_ref().map(At::utc).unwrap_or_else(|| "—".into())),
            moment.since_start_ms.map(elapsed).unwrap_or_else(|| "—".into()),
            moment
                .since_failure_ms
                .map(elapsed)
                .unwrap_or_else(|| "—".into()),
            escape(&moment.detail)
        );
    }
    html.push_str("</tbody>\n</table>\n</section>\n");
}

fn timeline(html: &mut String, transcript: &Transcript) {
    html.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n<table>\n<thead><tr><th scope=\"col\">Time (UTC)</th><th scope=\"col\">What happened</th><th scope=\"col\">By</th></tr></thead>\n<tbody>\n");
    let mut day = "";
    for entry in &transcript.timeline {
        let time = if entry.at.day() == day {
            entry.at.clock()
        } else {
            day = entry.at.day();
            entry.at.utc()
        };
        let by = transcript
            .who(entry.person.as_deref(), entry.os_user.as_deref())
            .map(|who| escape(&who))
            .unwrap_or_default();
        let _ = writeln!(
            html,
            "<tr id=\"event-{}\"><td class=\"time\">{}</td><td class=\"lines\">{}</td><td>{by}</td></tr>",
            entry.seq,
            escape(&time),
            said(transcript, entry)
        );
    }
    html.push_str("</tbody>\n</table>\n</section>\n");
}

/// An entry's text; a command is linked to its section.
fn said(transcript: &Transcript, entry: &Entry) -> String {
    match entry.about {
        About::CommandStarted { command } => match transcript.commands.get(command) {
            Some(ran) => format!(
                "<a href=\"#command-{0}\">#{0}</a>{1}: <code>{2}</code>",
                command + 1,
                on(ran),
                escape(&ran.command)
            ),
            None => escape(&entry.text),
        },
        About::CommandFinished { command } => {
            let class = match transcript.commands.get(command) {
                Some(ran) if !ran.succeeded() => " class=\"bad\"",
                _ => "",
            };
            format!(
                "<a href=\"#command-{0}\">#{0}</a>: <span{class}>{1}</span>",
                command + 1,
                escape(&entry.text)
            )
        }
        _ => escape(&entry.text),
    }
}

fn answers(html: &mut String, transcript: &Transcript) {
    html.push_str("<section id=\"answers\">\n<h2>Answers</h2>\n");
    if transcript.answers.is_empty() {
        html.push_str(
            "<p>Nobody voted, confirmed, decided or cut a pause short.</p>\n</section>\n",
        );
        return;
    }
    html.push_str("<p>Roles are those the roster gave each person when the run started.</p>\n<table>\n<thead><tr><th scope=\"col\">Time (UTC)</th><th scope=\"col\">Person</th><th scope=\"col\">Roles</th><th scope=\"col\">Answer</th><th scope=\"col\">About</th><th scope=\"col\">Reason</th><th scope=\"col\">Taken</th></tr></thead>\n<tbody>\n");
    for answer in &transcript.answers {
        let mut person = answer.person.clone().unwrap_or_default();
        if let Some(name) = &answer.name {
            let _ = write!(person, " ({name})");
        }
        if let Some(user) = &answer.os_user {
            let _ = write!(person, ", OS user {user}");
        }
        let mut said = answer.answer.clone();
        if let Some(role) = &answer.role {
            let _ = write!(said, " as {role}");
        }
        if let Some(decision) = answer.decision {
            let _ = write!(said, " {}", format!("{decision:?}").to_lowercase());
        }
        for (key, value) in &answer.values {
            let _ = write!(said, "\n{key} = {value}");
        }
        let taken = match &answer.refused {
            Some(why) => format!("<span class=\"bad\">REFUSED</span>: {}", escape(why)),
            None => "yes".to_string(),
        };
        let _ = writeln!(
            html,
            "<tr><td class=\"time\">{}</td><td>{}</td><td>{}</td><td class=\"lines\">{}</td><td>{}</td><td class=\"lines\">{}</td><td>{taken}</td></tr>",
            escape(&answer.at.utc()),
            escape(&person),
            escape(&answer.roles.join(", ")),
            escape(&said),
            escape(&answer.about),
            escape(answer.reason.as_deref().unwrap_or_default()),
        );
    }
    html.push_str("</tbody>\n</table>\n</section>\n");
}

fn commands(html: &mut String, transcript: &Transcript) {
    html.push_str("<section id=\"commands\">\n<h2>Commands</h2>\n");
    if transcript.commands.is_empty() {
        html.push_str("<p>No command ran.</p>\n</section>\n");
        return;
    }
    html.push_str("<p>Secrets were redacted before anything was logged. Each output is the part the log holds; the run's folder holds it whole.</p>\n");
    for (number, ran) in transcript.commands.iter().enumerate() {
        let ended = match ran.duration_ms {
            Some(duration) => format!("{} after {}", ran.ended_text(), seconds(duration)),
            None => ran.ended_text(),
        };
        let class = if ran.succeeded() { "good" } else { "bad" };
        let _ = writeln!(
            html,
            "<article class=\"command\" id=\"command-{0}\">\n<h3>#{0}: {1}{2}</h3>\n<p>{3}: {4} {5}, attempt {6}, started {7} UTC: <span class=\"{class}\">{8}</span>{9}</p>\n<pre>{10}</pre>",
            number + 1,
            escape(&ran.unit),
            on(ran),
            escape(&ran.node),
            phase_word(ran),
            ran.number,
            ran.attempt,
            escape(&ran.started.utc()),
            escape(&ended),
            ran.full_output
                .as_deref()
                .map(|file| format!("; whole output in <code>{}</code> in the run's folder", escape(file)))
                .unwrap_or_default(),
            escape(&ran.command)
        );
        let lines: Vec<(&str, &str)> = ran.lines().collect();
        if !lines.is_empty() {
            let _ = write!(
                html,
                "<details><summary>Output: {} line{}</summary><pre>",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" }
            );
            for (stream, line) in lines {
                match stream {
                    "stderr" => {
                        let _ = writeln!(html, "<span class=\"stderr\">{}</span>", escape(line));
                    }
                    "note" => {
                        let _ = writeln!(html, "<span class=\"note\">{}</span>", escape(line));
                    }
                    _ => {
                        let _ = writeln!(html, "{}", escape(line));
                    }
                }
            }
            html.push_str("</pre></details>\n");
        }
        html.push_str("</article>\n");
    }
    html.push_str("</section>\n");
}

fn evaluations(html: &mut String, transcript: &Transcript) {
    html.push_str("<section id=\"evaluations\">\n<h2>Probe values behind each decision</h2>\n");
    if transcript.evaluations.is_empty() {
        html.push_str("<p>No condition was evaluated and no baseline read.</p>\n</section>\n");
        return;
    }
    html.push_str("<table>\n<thead><tr><th scope=\"col\">Time (UTC)</th><th scope=\"col\">Of</th><th scope=\"col\">Condition</th><th scope=\"col\">Values</th><th scope=\"col\">Verdict</th></tr></thead>\n<tbody>\n");
    for evaluation in &transcript.evaluations {
        let condition = match (evaluation.kind, &evaluation.condition) {
            (EvaluationKind::Condition, Some(condition)) => {
                format!("<code>{}</code>", escape(condition))
            }
            _ => "baseline".to_string(),
        };
        let class = match (evaluation.holds, &evaluation.error) {
            (Some(false), _) | (_, Some(_)) => "bad",
            (Some(true), _) => "good",
            _ => "muted",
        };
        let _ = writeln!(
            html,
            "<tr><td class=\"time\">{}</td><td>{}</td><td>{condition}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            escape(&evaluation.at.utc()),
            escape(&evaluation.of),
            escape(&evaluation.values_text()),
            escape(&evaluation.verdict())
        );
    }
    html.push_str("</tbody>\n</table>\n</section>\n");
}

fn objectives(html: &mut String, transcript: &Transcript) {
    html.push_str("<section id=\"objectives\">\n<h2>Objectives</h2>\n");
    if transcript.objectives.is_empty() {
        html.push_str("<p>No objective was decided: the runbook sets none, or no failure started their clocks.</p>\n</section>\n");
        return;
    }
    html.push_str("<table>\n<thead><tr><th scope=\"col\">Objective</th><th scope=\"col\">Limit</th><th scope=\"col\">Result</th><th scope=\"col\">Decided at (UTC)</th></tr></thead>\n<tbody>\n");
    for objective in &transcript.objectives {
        let class = if objective.met { "good" } else { "bad" };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td class=\"time\">{}</td></tr>",
            escape(&objective.objective),
            escape(&objective.limit()),
            escape(&objective.result()),
            escape(&objective.at.utc())
        );
    }
    html.push_str("</tbody>\n</table>\n</section>\n");
}

fn notices(html: &mut String, transcript: &Transcript) {
    html.push_str("<section id=\"notices\">\n<h2>Notices</h2>\n");
    if transcript.notices.is_empty() {
        html.push_str("<p>No notice was sent.</p>\n</section>\n");
        return;
    }
    html.push_str("<table>\n<thead><tr><th scope=\"col\">Time (UTC)</th><th scope=\"col\">To</th><th scope=\"col\">Channel</th><th scope=\"col\">Message</th><th scope=\"col\">Delivery</th></tr></thead>\n<tbody>\n");
    for notice in &transcript.notices {
        let class = if notice.delivered() { "good" } else { "bad" };
        let _ = writeln!(
            html,
            "<tr><td class=\"time\">{}</td><td>{}</td><td>{}</td><td class=\"lines\">{}</td><td class=\"{class}\">{}</td></tr>",
            escape(&notice.at.utc()),
            escape(&notice.audience),
            escape(notice.channel.as_deref().unwrap_or("log")),
            escape(&notice.message),
            escape(&notice.outcome())
        );
    }
    html.push_str("</tbody>\n</table>\n</section>\n");
}

fn postmortem(html: &mut String, transcript: &Transcript) {
    let postmortem = &transcript.postmortem;
    let _ = writeln!(
        html,
        "<section id=\"postmortem\">\n<h2>Post-mortem ({TO_FILL_IN})</h2>\n<p class=\"banner\"><strong>To fill in.</strong> Nothing below is a conclusion: the prompts come from the log, the answers are yours to write.</p>"
    );
    html.push_str("<h3>What failed</h3>\n");
    if postmortem.failures.is_empty() {
        html.push_str("<p>The log has no failure.</p>\n");
    } else {
        html.push_str("<ul>\n");
        for failure in &postmortem.failures {
            let _ = writeln!(
                html,
                "<li>{} UTC: {}</li>",
                escape(&failure.at.utc()),
                escape(&failure.text())
            );
        }
        html.push_str("</ul>\n");
    }
    part(html, "Root cause", &postmortem.root_cause);
    let _ = writeln!(
        html,
        "<h3>Corrective actions</h3>\n<table>\n<thead><tr><th scope=\"col\">Action</th><th scope=\"col\">Owner</th><th scope=\"col\">Due</th></tr></thead>\n<tbody>"
    );
    for action in &postmortem.corrective_actions {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            filled(&action.action),
            filled(&action.owner),
            filled(&action.due)
        );
    }
    html.push_str("</tbody>\n</table>\n");
    part(html, "What went well", &postmortem.went_well);
    part(html, "What went badly", &postmortem.went_badly);
    html.push_str("</section>\n");
}

/// A cell's text, or a mark that it is to be filled in.
fn filled(value: &str) -> String {
    if value.is_empty() {
        format!("<span class=\"muted\">({TO_FILL_IN})</span>")
    } else {
        escape(value)
    }
}

fn part(html: &mut String, title: &str, part: &Part) {
    let _ = writeln!(html, "<h3>{title}</h3>");
    if !part.prompts.is_empty() {
        html.push_str("<p class=\"muted\">Prompts from the log:</p>\n<ul class=\"muted\">\n");
        for prompt in &part.prompts {
            let _ = writeln!(html, "<li>{}</li>", escape(prompt));
        }
        html.push_str("</ul>\n");
    }
    let _ = writeln!(html, "<div class=\"fill\">{}</div>", filled(&part.text));
}

fn on(ran: &Command) -> String {
    ran.host
        .as_deref()
        .map(|host| format!(" on {}", escape(host)))
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

/// Text as HTML shows it, in an element or an attribute: `& < > " '` as references,
/// and invisible characters (bidirectional overrides, zero-width spaces) as `\u{...}`,
/// so that a reader sees them.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if shown_escaped(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_log_is_escaped_for_html() {
        assert_eq!(
            escape("<script>alert(\"x\")</script> & 'y'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("a\u{202e}b\u{0}c\nd"), "a\\u{202e}b\\u{0}c\nd");
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }
}
