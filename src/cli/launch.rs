//! What `run`, `resume`, `confirm` and `decide` share: the options that say how a run
//! is driven, turning a checked runbook into the values a run needs (parameters,
//! secrets, hosts), and showing the engine's errors with their codes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runbook::ast::ParamType;
use runbook::compile::{Graph, SecretSource, Value};
use runbook::diagnostic::{Code, Diagnostic};
use runbook::engine::facts::Member;
use runbook::engine::report::OutputMode;
use runbook::engine::{self, codes, EngineError, OnInterrupt, Options};
use runbook::executor::fleet::{Fleet, FleetError};
use runbook::executor::ssh::{Shipment, SshOptions, DEFAULT_SESSIONS};
use runbook::source::SourceFile;
use runbook::store::{Durability, StoreError};

use super::output::{self, Loaded};
use super::{CheckOptions, EXIT_INTERNAL, EXIT_USAGE};

/// `--state-dir`, for every command that reads or drives runs.
#[derive(Debug, Clone, clap::Args)]
pub struct StateArg {
    /// Where runs are kept; else RUNBOOK_STATE_DIR, else .runbook in this folder.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

impl StateArg {
    pub fn dir(&self) -> PathBuf {
        runbook::store::state_dir(self.state_dir.as_deref())
    }
}

/// The log of an existing run, or exit 2 with `rbk::run::no_such_run`.
pub fn existing_log(state_dir: &Path, run: &str) -> Result<PathBuf, ExitCode> {
    let path = runbook::store::events_path(state_dir, run);
    if runbook::store::is_run_id(run) && path.is_file() {
        return Ok(path);
    }
    eprintln!(
        "error[{}]: no run `{run}` in {}\n  help: `runbook status` lists the runs",
        codes::NO_SUCH_RUN.as_str(),
        state_dir.display()
    );
    Err(ExitCode::from(EXIT_USAGE))
}

/// How a run is driven and where it is kept.
#[derive(Debug, Clone, clap::Args)]
pub struct DriveArgs {
    #[command(flatten)]
    pub state: StateArg,
    /// Who is running it, as the roster names them (logged with the OS user).
    #[arg(long = "as", value_name = "NAME")]
    pub person: Option<String>,
    /// What to show while it runs.
    #[arg(long, value_enum, default_value_t = OutputMode::Auto)]
    pub output: OutputMode,
    /// On Ctrl-C or SIGTERM, let running commands finish (`wait`) or stop them (`kill`).
    /// A second interrupt always stops them.
    #[arg(long, value_enum, default_value_t = OnInterrupt::Wait)]
    pub on_interrupt: OnInterrupt,
    /// Wait for people (manual steps, decisions) even when not on a terminal; they
    /// answer with `runbook confirm` or `runbook decide` from another terminal.
    #[arg(long, conflicts_with = "no_wait")]
    pub wait: bool,
    /// Never wait for people: pause the run (exit 3) when one is needed.
    #[arg(long)]
    pub no_wait: bool,
    /// The Prometheus server `prometheus` probes query, instead of the runbook's own
    /// (a drill's, a staging one); else RUNBOOK_PROMETHEUS_URL.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// Hosts reached over SSH whose key is not in known_hosts yet: add the key and go
    /// on (logged), instead of refusing the host. A key that changed is always refused.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Commands under way on hosts reached over SSH at once, at most, whatever the
    /// steps' own `parallel` (each is an ssh process here).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SESSIONS, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_ssh_sessions: u16,
}

impl DriveArgs {
    /// Where `prometheus` probes are queried: `--prometheus`, RUNBOOK_PROMETHEUS_URL,
    /// else the runbook's `prometheus "url"`.
    pub fn prometheus(&self, graph: &Graph) -> Option<String> {
        self.prometheus
            .clone()
            .or_else(|| std::env::var("RUNBOOK_PROMETHEUS_URL").ok())
            .filter(|url| !url.is_empty())
            .or_else(|| graph.header().prometheus.clone())
    }

    /// On a terminal someone can answer from another one, so the engine waits there
    /// unless told not to; elsewhere (CI, a script) it pauses unless told to wait.
    pub fn options(&self) -> Options {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
        Options {
            output: self.output,
            on_interrupt: self.on_interrupt,
            wait_for_people: self.wait || (terminal && !self.no_wait),
            answer_at_terminal: terminal,
            durability: Durability::Synced,
        }
    }
}

/// A runbook checked clean and compiled, or the exit code after its findings were shown.
pub struct Ready {
    pub file: SourceFile,
    pub outcome: Box<runbook::pipeline::Outcome>,
}

impl Ready {
    pub fn graph(&self) -> &Graph {
        // `load` only returns a `Ready` whose outcome has a graph.
        self.outcome.graph().unwrap_or_else(|| unreachable!())
    }
}

/// Loads and checks a runbook for running: any error (or a construct the engine
/// cannot run yet) is shown and ends the command with exit 2.
pub fn load(path: &Path, check: &CheckOptions) -> Result<Ready, ExitCode> {
    let loaded = match output::load_and_check(path, check) {
        Ok(loaded) => loaded,
        Err(internal) => {
            eprintln!("internal error: {internal}");
            return Err(ExitCode::from(EXIT_INTERNAL));
        }
    };
    match loaded {
        Loaded::Unreadable(error) => {
            eprint!("{}", output::render_input_error(&error));
            Err(ExitCode::from(EXIT_USAGE))
        }
        Loaded::Checked { file, outcome } => ready(file, outcome),
    }
}

/// Where the run's commands go: each inventory host as its inventory says (over SSH,
/// with the runbook's shipped files copied first), the rest on this machine.
pub fn fleet(ready: &Ready, base_dir: &Path, drive: &DriveArgs) -> Result<Fleet, ExitCode> {
    let inventories = &ready.outcome.context().inventories;
    let shipped: Vec<String> = ready
        .graph()
        .shipped()
        .iter()
        .map(|file| file.path.clone())
        .collect();
    let options = SshOptions {
        accept_new_host_keys: drive.accept_new_host_keys,
        sessions: usize::from(drive.max_ssh_sessions),
    };
    Fleet::new(inventories, || Shipment::read(base_dir, &shipped), options).map_err(|error| {
        let help = match error {
            FleetError::Conflict { .. } => {
                "give the host the same `connection`, `address` and `ssh` settings in every inventory that lists it"
            }
            FleetError::Shipment(_) => {
                "a file the runbook ships must stay readable from `check` until the run starts"
            }
            FleetError::Setup(_) => "ssh needs a private folder under /tmp for its connections",
        };
        output::coded_error(codes::REMOTE_SETUP, &error.to_string(), help);
        ExitCode::from(EXIT_USAGE)
    })
}

/// A checked runbook, ready to run when it has no error and every approval has a
/// roster to be judged by; else its findings are shown and the command ends (exit 2).
pub fn ready(
    file: SourceFile,
    outcome: Box<runbook::pipeline::Outcome>,
) -> Result<Ready, ExitCode> {
    if outcome.has_errors() || outcome.graph().is_none() {
        eprint!("{}", output::render(&file, &outcome.diagnostics));
        eprintln!("the runbook has errors: nothing was run");
        return Err(ExitCode::from(EXIT_USAGE));
    }
    let graph = outcome.graph().unwrap_or_else(|| unreachable!());
    if outcome.context().roster.is_none() {
        let approvals: Vec<Diagnostic> = engine::preflight::approvals(graph)
            .into_iter()
            .map(|span| {
                Diagnostic::new(codes::NO_ROSTER, "an approval by role, and no roster to say who holds the role")
                    .with_label(span, "asked here")
                    .with_help("name the team's roster in the header (`roster \"roster.toml\"`) or give one with `--roster FILE`")
            })
            .collect();
        if !approvals.is_empty() {
            eprint!("{}", output::render(&file, &approvals));
            return Err(ExitCode::from(EXIT_USAGE));
        }
    }
    Ok(Ready { file, outcome })
}

/// Every parameter's value: given with `--param`, else its default. Reported together.
pub fn params(ready: &Ready, given: &[String]) -> Result<BTreeMap<String, String>, ExitCode> {
    let graph = ready.graph();
    let mut findings = Vec::new();
    let mut values = BTreeMap::new();
    let mut overrides = BTreeMap::new();
    for pair in given {
        match pair.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                overrides.insert(name.trim().to_string(), value.to_string());
            }
            _ => findings.push(
                Diagnostic::new(
                    codes::BAD_PARAM,
                    format!("`--param {pair}` is not `name=value`"),
                )
                .with_help("write each parameter as `-p name=value`"),
            ),
        }
    }
    for name in overrides.keys() {
        if !graph.params().iter().any(|param| &param.name == name) {
            let declared: Vec<&str> = graph.params().iter().map(|p| p.name.as_str()).collect();
            findings.push(
                Diagnostic::new(
                    codes::UNKNOWN_PARAM,
                    format!("the runbook has no parameter `{name}`"),
                )
                .with_help(if declared.is_empty() {
                    "this runbook declares no parameters".to_string()
                } else {
                    format!("its parameters are: {}", declared.join(", "))
                }),
            );
        }
    }
    for param in graph.params() {
        let value = match (overrides.get(&param.name), &param.default) {
            (Some(given), _) => match fits(param.ty, given) {
                Ok(()) => given.clone(),
                Err(expected) => {
                    findings.push(
                        Diagnostic::new(
                            codes::BAD_PARAM,
                            format!("`{}` must be {expected}, not `{given}`", param.name),
                        )
                        .with_label(param.span, "declared here"),
                    );
                    continue;
                }
            },
            (None, Some(default)) => default_text(default),
            (None, None) => {
                findings.push(
                    Diagnostic::new(
                        codes::MISSING_PARAM,
                        format!(
                            "parameter `{}` has no default and was not given",
                            param.name
                        ),
                    )
                    .with_label(param.span, "declared here")
                    .with_help(format!("give it with `-p {}=VALUE`", param.name)),
                );
                continue;
            }
        };
        values.insert(param.name.clone(), value);
    }
    if findings.is_empty() {
        Ok(values)
    } else {
        eprint!("{}", output::render(&ready.file, &findings));
        Err(ExitCode::from(EXIT_USAGE))
    }
}

fn fits(ty: ParamType, value: &str) -> Result<(), &'static str> {
    let fits = match ty {
        ParamType::String => true,
        ParamType::Int => value.parse::<i64>().is_ok(),
        ParamType::Float => value.parse::<f64>().is_ok_and(f64::is_finite),
        ParamType::Bool => matches!(value, "true" | "false"),
        ParamType::Duration => humantime::parse_duration(value).is_ok(),
    };
    if fits {
        return Ok(());
    }
    Err(match ty {
        ParamType::String => "a string",
        ParamType::Int => "a whole number",
        ParamType::Float => "a number",
        ParamType::Bool => "`true` or `false`",
        ParamType::Duration => "a duration such as `90s` or `1h`",
    })
}

fn default_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::DurationMs(millis) => runbook::ast::duration_text(*millis),
        Value::Percent(share) => format!("{share}%"),
    }
}

/// Reads every secret from where the runbook says; their values go to the engine only.
pub fn secrets(ready: &Ready, base_dir: &Path) -> Result<Vec<(String, String)>, ExitCode> {
    let mut values = Vec::new();
    let mut findings = Vec::new();
    for secret in ready.graph().secrets() {
        let read = match &secret.source {
            SecretSource::Env { variable } => std::env::var(variable)
                .map_err(|_| format!("environment variable `{variable}` is not set")),
            SecretSource::File { path } => std::fs::read_to_string(base_dir.join(path))
                .map(|text| text.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|error| format!("cannot read `{path}`: {error}")),
        };
        match read {
            Ok(value) => values.push((secret.name.clone(), value)),
            Err(why) => findings.push(
                Diagnostic::new(
                    codes::SECRET_UNAVAILABLE,
                    format!("secret `{}` is not available: {why}", secret.name),
                )
                .with_label(secret.span, "declared here")
                .with_help("set it before the run; its value is never logged or shown"),
            ),
        }
    }
    if findings.is_empty() {
        Ok(values)
    } else {
        eprint!("{}", output::render(&ready.file, &findings));
        Err(ExitCode::from(EXIT_USAGE))
    }
}

/// Who holds which role, from the roster the check loaded (the runbook's, or the one
/// given with `--roster`).
pub fn roster(ready: &Ready) -> Option<BTreeMap<String, Member>> {
    let loaded = ready.outcome.context().roster.as_ref()?;
    Some(
        loaded
            .roster
            .people()
            .map(|(login, person)| {
                let member = Member {
                    name: person.name.clone(),
                    roles: person.roles.clone(),
                };
                (login.to_string(), member)
            })
            .collect(),
    )
}

/// An engine error as a coded message with a hint; always exit 2 (the run did not
/// get to decide anything), or 70 for a bug in runbook itself.
pub fn engine_error(error: &EngineError) -> ExitCode {
    let (code, help): (Code, &str) = match error {
        EngineError::NoSuchRun(_) => (
            codes::NO_SUCH_RUN,
            "`runbook status` lists the runs; give the state folder with --state-dir",
        ),
        EngineError::Finished { .. } => (
            codes::FINISHED,
            "`runbook transcript RUN` shows what happened",
        ),
        EngineError::DrillNotResumed { simulated: true, .. } => (
            codes::DRILL_NOT_RESUMED,
            "run the drill again: `runbook drill FILE` with the same --inject and --probe",
        ),
        EngineError::DrillNotResumed { simulated: false, .. } => (
            codes::DRILL_NOT_RESUMED,
            "run the drill again: `runbook drill FILE --real` with the same --inject",
        ),
        EngineError::SourceChanged { .. } => (
            codes::SOURCE_CHANGED,
            "compare the file with the source in the log (`runbook transcript RUN`)",
        ),
        EngineError::Store(StoreError::Locked { .. }) => (
            codes::LOCKED,
            "one engine drives a run at a time; answer it with `runbook confirm` or `runbook decide`",
        ),
        EngineError::Store(StoreError::Schema { .. }) | EngineError::UnknownEvent(_) => (
            codes::OTHER_VERSION,
            "nothing was changed; take the run up with the version of runbook that wrote it (its `engine_version` is in the log's first line)",
        ),
        EngineError::Store(StoreError::Broken { .. }) | EngineError::NoStart(_) => (
            codes::LOG_BROKEN,
            "`runbook verify RUN` names the first bad line; a copy of the log kept elsewhere may be intact",
        ),
        EngineError::UnknownPerson { .. } => (
            codes::UNKNOWN_PERSON,
            "give your login as the roster names it (`--as NAME`); a run keeps the roster it started with",
        ),
        EngineError::Internal(_) => {
            eprintln!("{error}\n  this is a bug in runbook: the run's log is intact, `runbook resume RUN` takes it up again");
            return ExitCode::from(EXIT_INTERNAL);
        }
        EngineError::Store(_)
        | EngineError::Folder { .. }
        | EngineError::Runtime(_) => (
            codes::LOG_FAILED,
            "nothing was lost: the log holds everything up to its last complete line; fix the cause and `runbook resume RUN`",
        ),
    };
    output::coded_error(code, &error.to_string(), help);
    ExitCode::from(EXIT_USAGE)
}

/// The exit code for how a run ended, after a line saying what to do next.
pub fn ending(run_id: &str, ending: &engine::Ending) -> ExitCode {
    match ending {
        engine::Ending::Completed => eprintln!("run {run_id} completed"),
        engine::Ending::Failed => eprintln!(
            "run {run_id} FAILED; see `runbook transcript {run_id}`"
        ),
        engine::Ending::Paused(reason) => eprintln!(
            "run {run_id} paused ({reason}); `runbook status {run_id}` says what it waits for, `runbook resume {run_id}` goes on"
        ),
        engine::Ending::RollbackFailed => eprintln!(
            "run {run_id}: A ROLLBACK FAILED. People must take over: `runbook status {run_id}`, then `runbook decide` and `runbook resume {run_id}`"
        ),
        engine::Ending::Died => eprintln!(
            "run {run_id} stopped where the recorded run's engine died; `runbook resume {run_id}` goes on"
        ),
    }
    ExitCode::from(ending.exit_code())
}

/// The transcript of a run that just stopped, and whether its log verifies.
pub fn print_transcript(state_dir: &Path, run_id: &str) {
    match runbook::store::read(&runbook::store::events_path(state_dir, run_id)) {
        Ok(events) => output::print_stdout(&runbook::transcript::render(&events)),
        Err(error) => eprintln!("the run's log does not verify: {error}"),
    }
}
