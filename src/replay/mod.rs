//! Replays: a recorded run run again by the same engine on a virtual clock, with the
//! recorded outcomes standing in for the world (how commands ended and what they
//! printed, what probes read, who answered what and when, how messages were
//! delivered), the recorded seed, and the recorded interrupts, deaths and resumes.
//!
//! Against the runbook it recorded, a replay must make every decision the run made;
//! against an edited runbook, the first decision that changes is where the edit bites.
//! The replay's own log is a normal log marked `replay_of`, compared with the
//! recorded one thread by thread (`compare`).

pub mod codes;
pub mod compare;
pub mod recording;
mod report;

use std::path::Path;

pub use compare::{compare, Change, Comparison, Divergence};
pub use recording::{Recording, Segment, Unreplayable, BASELINE};

use crate::compile::Graph;
use crate::drill::Simulated;
use crate::engine::clock::VirtualClock;
use crate::engine::facts::Fact;
use crate::engine::report::OutputMode;
use crate::engine::{self, Ending, EngineError, Launch, OnInterrupt, Options, Resumption};
use crate::store::Durability;

/// A runbook a replay runs, checked and compiled.
#[derive(Clone, Copy)]
pub struct Runbook<'a> {
    pub graph: &'a Graph,
    pub source: &'a str,
}

/// What a replay runs: the recorded run, the runbook each of its engines ran (the
/// recorded source and the edits resumes accepted, or one edited runbook for all), and
/// where the replay's own run is written.
pub struct Replay<'a> {
    pub recording: &'a Recording,
    /// One per segment of the recording, in order.
    pub runbooks: Vec<Runbook<'a>>,
    /// The runbook's file: the recorded one, or the edited one.
    pub file: &'a Path,
    pub state_dir: &'a Path,
    pub output: OutputMode,
}

/// Runs the replay, engine after engine as the recorded run had them, copying in what
/// people said to the run while no engine ran. Returns the replay's run and how its
/// last engine ended.
pub fn run(replay: &Replay<'_>) -> Result<(String, Ending), EngineError> {
    let recording = replay.recording;
    let Some(first_runbook) = replay.runbooks.first().copied() else {
        return Err(EngineError::Internal(
            "a replay was given no runbook".to_string(),
        ));
    };
    let started = &recording.started;
    // Nothing is executed, so no secret is read: each stands in as its own name, and
    // the recorded output already shows each as `[secret NAME]`.
    let secrets: Vec<(String, String)> = replay
        .runbooks
        .iter()
        .flat_map(|runbook| runbook.graph.secrets())
        .map(|secret| (secret.name.clone(), format!("replay-{}", secret.name)))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let executor = Simulated::default();
    recording.enter(0);
    let first = recording.segments.first();
    let clock = VirtualClock::starting_at(first.map_or(0, |segment| segment.began_ms));
    let person = recording
        .events
        .first()
        .and_then(|event| event.actor.as_ref())
        .and_then(|actor| actor.person.clone());
    let (run_id, mut ending) = engine::start(
        Launch {
            graph: first_runbook.graph,
            source: first_runbook.source,
            file: replay.file,
            state_dir: replay.state_dir,
            params: started.params.clone(),
            secrets: secrets.clone(),
            inventories: started.inventories.clone(),
            roster: started.roster.clone(),
            person,
            prometheus: None,
            options: options(replay.output, first),
            executor: &executor,
            drill: None,
            replay: Some(recording),
        },
        &clock,
    )?;
    for (index, segment) in recording.segments.iter().enumerate().skip(1) {
        let mut stopped = engine::Stopped::open(replay.state_dir, &run_id, &clock)?;
        if stopped.history.finished.is_some() {
            // The replay ended where the recorded run went on: the comparison says why.
            break;
        }
        copy_between(&mut stopped, &recording.segments[index - 1])?;
        recording.enter(index);
        let clock = VirtualClock::starting_at(segment.began_ms);
        let runbook = replay.runbooks.get(index).copied().unwrap_or(first_runbook);
        ending = engine::resume(
            stopped,
            Resumption {
                graph: runbook.graph,
                source: runbook.source,
                secrets: secrets.clone(),
                accept_changes: true,
                person: segment.resumed_by.clone(),
                prometheus: None,
                options: options(replay.output, Some(segment)),
                executor: &executor,
                replay: Some(recording),
            },
            &clock,
        )?;
    }
    // Answers given after the recorded run's last stop, which no engine heard.
    if let Some(last) = recording
        .segments
        .last()
        .filter(|last| !last.between.is_empty())
    {
        let mut stopped = engine::Stopped::open(replay.state_dir, &run_id, &clock)?;
        if stopped.history.finished.is_none() {
            copy_between(&mut stopped, last)?;
        }
    }
    Ok((run_id, ending))
}

/// How the recorded engine of `segment` was driven.
fn options(output: OutputMode, segment: Option<&Segment>) -> Options {
    Options {
        output,
        on_interrupt: OnInterrupt::Wait,
        wait_for_people: segment.is_none_or(|segment| segment.waits_for_people),
        answer_at_terminal: false,
        // A replay's effects are simulated and it is never resumed by anyone: its log
        // is written without a sync per event.
        durability: Durability::Unsynced,
    }
}

/// What people said to the run while no engine ran after `segment`, at its time.
fn copy_between(stopped: &mut engine::Stopped, segment: &Segment) -> Result<(), EngineError> {
    for event in &segment.between {
        let Some(fact) = Fact::of(event) else {
            continue;
        };
        stopped.append_by(
            fact,
            event.actor.clone(),
            &VirtualClock::starting_at(event.time_ms),
        )?;
    }
    Ok(())
}
