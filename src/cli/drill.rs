use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runbook::drill::{
    DrillMark, Fault, Injected, Rehearsal, Response, Scenario, ScriptedProbes, Simulated, StartTime,
};
use runbook::engine::clock::{Clock, RealClock, VirtualClock};
use runbook::engine::{self, Launch};
use runbook::executor::fleet::Fleet;
use runbook::executor::Executor;

use super::launch::{self, DriveArgs};
use super::{CheckOptions, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runbook to rehearse, or a scenario (`NAME.drill.toml`) holding a whole drill.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// A parameter's value, `name=value` (repeat for several).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// A fault, `fail|hang|fail-rollback:STEP[@HOST,...]` (repeat for several).
    #[arg(long = "inject", value_name = "SPEC")]
    inject: Vec<String>,
    /// What a probe reads, `NAME=VALUE[@AFTER]`, from AFTER into the drill on
    /// (repeat for several values and probes).
    #[arg(long = "probe", value_name = "NAME=VALUE[@AFTER]")]
    probes: Vec<String>,
    /// A person's answer, `node=NAME,person=NAME[,after=DURATION][,answer=WORD][,host=HOST]`:
    /// an approval, a manual step, a pause's end (repeat for several).
    #[arg(long = "respond", value_name = "SPEC")]
    respond: Vec<String>,
    /// The seed that picks sampled hosts, so a drill picks the same ones every time
    /// (the scenario's, else 1).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// When the drill's virtual clock starts, in RFC 3339 and UTC
    /// (`2026-03-01T02:00:00Z`): the same drill then writes the same log, run id and
    /// timestamps every time (the scenario's, else now).
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// Run the drill for real (a game day): the runbook's commands on the inventories
    /// it names (a staging one), on the real clock, with real probes, people and
    /// messages, and its secrets read as `run` reads them. The injected faults still
    /// strike: a command they strike is not run. `--probe`, `--respond` and `--start`
    /// do not go with it.
    #[arg(long)]
    real: bool,
    /// Also write the scorecard as a JUnit report, for CI systems.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print the run's transcript when it ends.
    #[arg(long)]
    transcript: bool,
    #[command(flatten)]
    drive: DriveArgs,
    #[command(flatten)]
    check: CheckOptions,
}

/// Rehearses a runbook: the same engine on a virtual clock, nothing executed, faults
/// injected; or, with `--real`, the real executor, clock, probes, people and messages,
/// with only the struck commands not run. Then the scorecard. Exit 0 when every
/// objective was met, 1 otherwise.
pub fn run(args: Args) -> ExitCode {
    if let Some(code) = refused_with_real(&args) {
        return code;
    }
    let (args, scenario_start) = match with_scenario(args) {
        Ok(given) => given,
        Err(code) => return code,
    };
    let start = match args
        .start
        .as_deref()
        .map(str::parse::<StartTime>)
        .transpose()
    {
        Ok(given) => given.or(scenario_start),
        Err(error) => return usage(&error.to_string(), "e.g. --start 2026-03-01T02:00:00Z"),
    };
    let mut faults: Vec<Fault> = match args.inject.iter().map(|spec| Fault::parse(spec)).collect() {
        Ok(faults) => faults,
        Err(error) => return usage(&error.to_string(), "e.g. --inject fail:install@pay-003"),
    };
    let mut probes = ScriptedProbes::default();
    for given in &args.probes {
        if let Err(error) = probes.add(given) {
            return usage(
                &error.to_string(),
                "e.g. --probe tx_success=0.999 --probe tx_success=0.95@2h",
            );
        }
    }
    let responses: Vec<Response> = match args
        .respond
        .iter()
        .map(|spec| Response::parse(spec))
        .collect()
    {
        Ok(responses) => responses,
        Err(error) => {
            return usage(
                &error.to_string(),
                "e.g. --respond node=go,person=alice,after=2m",
            )
        }
    };
    let ready = match launch::load(&args.file, &args.check) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let hosts = ready.outcome.context().host_lists();
    for fault in &mut faults {
        if let Err(refused) = in_waves(fault, ready.graph(), &hosts) {
            return usage(
                &refused,
                "`@wave:N` names a wave of the waves block the step is in, from 1",
            );
        }
    }
    if let Some(refused) = faults
        .iter()
        .find_map(|fault| unknown_target(fault, ready.graph(), &hosts))
    {
        return usage(
            &refused,
            "a fault names a step of the runbook, and hosts of its inventories",
        );
    }
    let params = match launch::params(&ready, &args.params) {
        Ok(params) => params,
        Err(code) => return code,
    };
    let base_dir = args.file.parent().unwrap_or(Path::new("."));
    // A game day reaches the hosts as a run would; a simulated drill reaches nothing.
    let fleet = if args.real {
        match launch::fleet(&ready, base_dir, &args.drive) {
            Ok(fleet) => fleet,
            Err(code) => return code,
        }
    } else {
        Fleet::local()
    };
    let secrets = if args.real {
        match launch::secrets(&ready, base_dir) {
            Ok(secrets) => secrets,
            Err(code) => return code,
        }
    } else {
        // Nothing is executed, so no secret is read: each stands in as its own name.
        ready
            .graph()
            .secrets()
            .iter()
            .map(|secret| (secret.name.clone(), format!("drill-{}", secret.name)))
            .collect()
    };
    let rehearsal = Rehearsal {
        mark: DrillMark {
            simulated: !args.real,
            injected: faults.iter().map(ToString::to_string).collect(),
            probes: args.probes.clone(),
            responders: args.respond.clone(),
        },
        probes,
        responses,
        seed: Some(args.seed.unwrap_or(1)),
    };
    let state_dir = args.drive.state.dir();
    let mut options = args.drive.options();
    let (simulated, injected, virtual_clock);
    let (executor, clock, prometheus): (&dyn Executor, &dyn Clock, _) = if args.real {
        // A game day: everything is real but the struck commands. People answer as in
        // `run`, and the log is synced per event, as the effects it announces are real.
        injected = Injected::over(&fleet, faults);
        (&injected, &RealClock, args.drive.prometheus(ready.graph()))
    } else {
        simulated = Simulated::with_faults(faults);
        // People are the responders: a wait none of them answers, with no end of its
        // own, pauses the drill.
        options.wait_for_people = true;
        options.answer_at_terminal = false;
        // A sync makes an event durable before the effect it announces starts; a
        // drill's effects are simulated and a drill is never resumed, so its log is
        // written without one per event (the file is complete and verifiable when the
        // drill ends).
        options.durability = runbook::store::Durability::Unsynced;
        // The drill starts when it was told to, else now; then its clock moves only as
        // the run waits.
        virtual_clock =
            VirtualClock::starting_at(start.map_or_else(|| RealClock.now_ms(), StartTime::ms));
        (&simulated, &virtual_clock, None)
    };
    let started = engine::start(
        Launch {
            graph: ready.graph(),
            source: ready.file.text(),
            file: &args.file,
            state_dir: &state_dir,
            params,
            secrets,
            inventories: hosts,
            roster: launch::roster(&ready),
            person: args.drive.person.clone(),
            prometheus,
            options,
            executor,
            drill: Some(&rehearsal),
            replay: None,
        },
        clock,
    );
    match started {
        Ok((run_id, ending)) => {
            if args.transcript {
                launch::print_transcript(&state_dir, &run_id);
            }
            say_ending(&run_id, &ending, args.real);
            scorecard(&state_dir, &run_id, &ending, args.junit.as_deref())
        }
        Err(error) => launch::engine_error(&error),
    }
}

/// The line saying how the drill ended, as `run` says it, except that a drill is run
/// again rather than resumed.
fn say_ending(run_id: &str, ending: &engine::Ending, real: bool) {
    match ending {
        engine::Ending::Paused(reason) => eprintln!(
            "drill {run_id} stopped ({reason}); a drill is not resumed: run it again"
        ),
        engine::Ending::RollbackFailed if real => eprintln!(
            "drill {run_id}: A ROLLBACK FAILED on real hosts. People must take over: `runbook transcript {run_id}` says what was and was not undone"
        ),
        engine::Ending::RollbackFailed => eprintln!(
            "drill {run_id}: a rollback failed; see `runbook transcript {run_id}`"
        ),
        _ => {
            let _ = launch::ending(run_id, ending);
        }
    }
}

/// Prints what the drill measured against the objectives. Exit 1 when one was
/// breached; else 3 when the drill stopped where nobody answered (or was interrupted)
/// and 4 when a rollback failed, as for `run`; else 0, whether the run completed,
/// failed, or was paused by its failure policy: a failure handled within the
/// objectives is what a drill hopes to see.
fn scorecard(
    state_dir: &Path,
    run_id: &str,
    ending: &engine::Ending,
    junit: Option<&Path>,
) -> ExitCode {
    let events = match runbook::store::read(&runbook::store::events_path(state_dir, run_id)) {
        Ok(events) => events,
        Err(error) => return launch::engine_error(&engine::EngineError::from(error)),
    };
    let card = runbook::drill::Scorecard::of(&events);
    super::output::print_stdout(&card.render());
    if let Some(path) = junit {
        let written = card
            .junit()
            .map_err(|error| error.to_string())
            .and_then(|xml| std::fs::write(path, xml).map_err(|error| error.to_string()));
        if let Err(error) = written {
            return usage(
                &format!("cannot write the JUnit report {}: {error}", path.display()),
                "give --junit a file in a folder that exists and can be written",
            );
        }
    }
    if card.breached() {
        return ExitCode::from(1);
    }
    match ending {
        engine::Ending::Paused(engine::Pause::ByPolicy) => ExitCode::SUCCESS,
        engine::Ending::Paused(_) | engine::Ending::RollbackFailed | engine::Ending::Died => {
            ExitCode::from(ending.exit_code())
        }
        engine::Ending::Completed | engine::Ending::Failed => ExitCode::SUCCESS,
    }
}

/// Why a drill run for real takes no scripted probe values, responders or start time:
/// the world, the people and the clock are real.
const REAL_PROBES: &str = "a real drill's probes read the real world";
const REAL_PEOPLE: &str = "in a real drill, real people answer";
const REAL_CLOCK: &str = "a real drill runs on the real clock";

/// What a drill run for real cannot be given on the command line.
fn refused_with_real(args: &Args) -> Option<ExitCode> {
    if !args.real {
        return None;
    }
    let (option, why, help) = if !args.probes.is_empty() {
        (
            "--probe",
            REAL_PROBES,
            "drop --probe; to read a staging Prometheus, give --prometheus URL",
        )
    } else if !args.respond.is_empty() {
        (
            "--respond",
            REAL_PEOPLE,
            "drop --respond; people answer at the terminal, or with `runbook approve`, `confirm` and `decide` (give --wait when not at one)",
        )
    } else if args.start.is_some() {
        (
            "--start",
            REAL_CLOCK,
            "drop --start: a real drill starts when it is run",
        )
    } else {
        return None;
    };
    Some(usage(
        &format!("`{option}` cannot be given with `--real`: {why}"),
        help,
    ))
}

/// The arguments with a scenario file's drill under them: the file names the runbook,
/// and its lists come before what the command line adds. The scenario's start comes
/// back beside them, for when the command line gives none.
fn with_scenario(mut args: Args) -> Result<(Args, Option<StartTime>), ExitCode> {
    if !Scenario::is_scenario(&args.file) {
        return Ok((args, None));
    }
    let scenario = Scenario::read(&args.file).map_err(|error| {
        usage(
            &error.to_string(),
            "a scenario has `runbook = \"FILE\"`, and may have `as`, `seed`, `start`, `inject`, `probes`, `respond` and `[params]`",
        )
    })?;
    if args.real {
        let scripted = [
            (!scenario.probes.is_empty(), "probes", REAL_PROBES),
            (!scenario.respond.is_empty(), "respond", REAL_PEOPLE),
            (scenario.start.is_some(), "start", REAL_CLOCK),
        ];
        if let Some((_, key, why)) = scripted.into_iter().find(|(given, ..)| *given) {
            return Err(usage(
                &format!(
                    "{} has `{key}`, which a drill run with `--real` cannot take: {why}",
                    args.file.display()
                ),
                "run this scenario without --real, or keep one without `probes`, `respond` and `start` for the real drill",
            ));
        }
    }
    args.file = scenario.runbook;
    let mut params: Vec<String> = scenario
        .params
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    params.append(&mut args.params);
    args.params = params;
    for (from_file, given) in [
        (scenario.inject, &mut args.inject),
        (scenario.probes, &mut args.probes),
        (scenario.respond, &mut args.respond),
    ] {
        let added = std::mem::take(given);
        *given = from_file;
        given.extend(added);
    }
    args.seed = args.seed.or(scenario.seed);
    args.drive.person = args.drive.person.or(scenario.person);
    Ok((args, scenario.start))
}

/// Why a fault could never strike: its step is not in the runbook, or a host is in
/// none of its inventories.
/// A fault on a wave (`fail:install@wave:2`) made a fault on that wave's hosts: the
/// waves block the step is in, split over its inventory as the engine splits it.
fn in_waves(
    fault: &mut Fault,
    graph: &runbook::compile::Graph,
    hosts: &std::collections::BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    let mut named = Vec::new();
    for target in std::mem::take(&mut fault.hosts) {
        let Some(number) = target.strip_prefix("wave:") else {
            named.push(target);
            continue;
        };
        let block = graph.nodes().iter().find_map(|node| match &node.kind {
            runbook::compile::NodeKind::Waves {
                over, stages, body, ..
            } if body.iter().any(|name| **name == fault.step) => Some((over, stages)),
            _ => None,
        });
        let Some((over, stages)) = block else {
            return Err(format!(
                "`{target}`: step `{}` is in no waves block",
                fault.step
            ));
        };
        let fleet = hosts.get(&**over).cloned().unwrap_or_default();
        let ranges = runbook::engine::waves::plan(fleet.len(), stages);
        let wave = number
            .parse::<usize>()
            .ok()
            .and_then(|number| ranges.get(number.checked_sub(1)?))
            .ok_or_else(|| {
                format!(
                    "`{target}`: the waves over `{over}` are numbered 1 to {}",
                    ranges.len()
                )
            })?;
        if wave.is_empty() {
            return Err(format!("`{target}`: that wave has no hosts"));
        }
        named.extend(fleet[wave.clone()].iter().cloned());
    }
    fault.hosts = named;
    Ok(())
}

fn unknown_target(
    fault: &Fault,
    graph: &runbook::compile::Graph,
    hosts: &std::collections::BTreeMap<String, Vec<String>>,
) -> Option<String> {
    let is_step = graph
        .nodes()
        .iter()
        .any(|node| *node.name == fault.step && node.work().is_some());
    if !is_step {
        return Some(format!(
            "`{fault}`: the runbook has no step `{}`",
            fault.step
        ));
    }
    fault
        .hosts
        .iter()
        .find(|host| !hosts.values().any(|list| list.contains(host)))
        .map(|host| format!("`{fault}`: `{host}` is in none of the runbook's inventories"))
}

fn usage(message: &str, help: &str) -> ExitCode {
    super::output::coded_error(runbook::drill::codes::BAD_DRILL, message, help);
    ExitCode::from(EXIT_USAGE)
}
